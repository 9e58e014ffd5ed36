"""Command-line front ends. They hold no logic: parse, call one library function, map
errors to exit codes."""
