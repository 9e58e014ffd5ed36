"""A sealed in-memory exec trampoline.

The runtime is a Python program, so while it sets up a container (and while ``exec``
joins one) ``/proc/self/exe`` names the host's Python interpreter. A process inside the
container that gets the runtime to execute ``#!/proc/self/exe`` could otherwise open the
host interpreter through ``/proc/PID/exe`` and overwrite it (the 2019 runc breakout,
CVE-2019-5736).

So the runtime never execs the user's program itself: it execs this trampoline from a
sealed memfd, and the trampoline execs ``argv[1]`` with ``argv[1:]`` and the same
environment. While the user's program is being exec'd, ``/proc/self/exe`` is therefore a
memfd that cannot be written (F_SEAL_WRITE) and that no host path names. The trampoline
is a 160-byte static ELF: started as ``PATH ARGV0 ARGS...`` it makes one syscall,
``execve(PATH, [ARGV0, ARGS...], envp)``, and if that fails exits with the errno as
status. Started with fewer than two arguments it exits with 127: a program whose
``#!`` names ``/proc/self/exe`` re-enters the trampoline once and stops there. Building it costs microseconds, unlike cloning the whole
interpreter into a memfd.
"""

from __future__ import annotations

import fcntl
import os
import struct

__all__ = ["supported", "make_fd"]

_CODE = {
    # mov rax,[rsp]; cmp rax,2; jl fail; mov rdi,[rsp+8]; lea rsi,[rsp+16];
    # lea rdx,[rsp+rax*8+16]; mov eax,59 (execve); syscall; mov edi,eax; neg edi;
    # mov eax,231 (exit_group); syscall; fail: mov edi,127; mov eax,231; syscall
    "x86_64": (0x3E, bytes.fromhex(
        "488b0424" "4883f802" "7c21" "488b7c2408" "488d742410" "488d54c410" "b83b000000"
        "0f05" "89c7" "f7df" "b8e7000000" "0f05" "bf7f000000" "b8e7000000" "0f05")),
    # ldr x2,[sp]; cmp x2,#2; b.lt fail; ldr x0,[sp,#8]; add x1,sp,#16;
    # add x2,sp,x2,uxtx #3; add x2,x2,#16; mov x8,#221 (execve); svc #0; neg x0,x0;
    # mov x8,#94 (exit_group); svc #0; fail: mov x0,#127; mov x8,#94; svc #0
    "aarch64": (0xB7, struct.pack("<15I", 0xF94003E2, 0xF100085F, 0x5400014B, 0xF94007E0,
                                  0x910043E1, 0x8B226FE2, 0x91004042, 0xD2801BA8, 0xD4000001,
                                  0xCB0003E0, 0xD2800BC8, 0xD4000001, 0xD2800FE0, 0xD2800BC8,
                                  0xD4000001)),
}
_BASE = 0x400000
_EHDR = 64
_PHDR = 56


def _elf(machine: int, code: bytes) -> bytes:
    size = _EHDR + _PHDR + len(code)
    ehdr = struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 2, machine, 1,
                       _BASE + _EHDR + _PHDR, _EHDR, 0, 0, _EHDR, _PHDR, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return ehdr + phdr + code


_MACHINE = os.uname().machine
_IMAGE = _elf(*_CODE[_MACHINE]) if _MACHINE in _CODE else None

MFD_CLOEXEC = 1
MFD_ALLOW_SEALING = 2
MFD_EXEC = 0x10
F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def supported() -> bool:
    return _IMAGE is not None


def make_fd() -> int:
    """A close-on-exec memfd holding the sealed trampoline, ready for ``os.execve(fd, ...)``."""
    assert _IMAGE is not None
    try:
        fd = os.memfd_create("onggi-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)
    except OSError:  # kernels before 6.3 do not know MFD_EXEC; their memfds are executable
        fd = os.memfd_create("onggi-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING)
    os.write(fd, _IMAGE)
    os.fchmod(fd, 0o555)
    fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    return fd
