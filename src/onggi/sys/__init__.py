"""The only layer that talks to the kernel below what :mod:`os` offers: ctypes calls into
libc and raw syscalls. Every wrapper raises ``OSError`` with errno, like :mod:`os` does;
callers turn those into onggi errors with context."""
