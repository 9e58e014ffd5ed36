"""OCI data: runtime-spec and state models, JSON I/O. Pure data, no I/O beyond JSON files."""
