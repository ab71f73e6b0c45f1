"""Does KVM really run guests here? Boot a 512-byte probe under QEMU and see.

Opening /dev/kvm and creating a VM is not enough: on some nested hosts KVM
takes the ioctls and then fails on the first instruction it has to emulate
(an ``int`` or ``iret`` in protected mode, which every boot loader does),
leaving the guest paused with "KVM internal error". The probe is a boot
sector (PROBE_SOURCE, assembled into PROBE_CODE) that enters protected mode,
takes a software interrupt and six timer interrupts, prints ``nubo-kvm-ok`` on
COM1 and leaves through QEMU's isa-debug-exit port. Under a working KVM this
takes well under a second.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

QEMU = "qemu-system-x86_64"
OK_TEXT = b"nubo-kvm-ok"
PROBE_TIMEOUT = 20.0

# GNU as source (as --32; objcopy -O binary -j .text), kept to show what the bytes do.
PROBE_SOURCE = r"""
        .code16
start:  cli
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %ss
        movw $0x7c00, %sp
        lgdtl 0x7c00 + gdt_desc
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $(0x7c00 + pm)
        .code32
pm:     movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $0x7c00, %esp
        movl $0x1000, %edi              /* 256 interrupt gates at 0x1000 -> handler */
        movl $256, %ecx
        movl $(0x7c00 + handler), %eax
1:      movw %ax, (%edi)
        movw $0x08, 2(%edi)
        movw $0x8e00, 4(%edi)
        movl %eax, %edx
        shrl $16, %edx
        movw %dx, 6(%edi)
        addl $8, %edi
        loop 1b
        lidtl 0x7c00 + idt_desc
        movl $0, 0x900                  /* interrupt counter */
        int $0x30
        int $0x31
        sti
2:      hlt                             /* timer interrupts (IRQ 0) until 6 in all */
        cmpl $6, 0x900
        jb 2b
        cli
        movl $(0x7c00 + msg), %esi
        movw $0x3f8, %dx
3:      lodsb
        testb %al, %al
        jz 4f
        outb %al, %dx
        jmp 3b
4:      movb $0, %al
        outb %al, $0xf4                 /* isa-debug-exit: QEMU exits with status 1 */
5:      hlt
        jmp 5b
handler:
        incl 0x900
        pushl %eax
        movb $0x20, %al
        outb %al, $0x20                 /* end of interrupt to the PIC */
        popl %eax
        iret
        .p2align 3
gdt:    .quad 0
        .quad 0x00cf9a000000ffff
        .quad 0x00cf92000000ffff
gdt_desc:
        .word 23
        .long 0x7c00 + gdt
idt_desc:
        .word 2047
        .long 0x1000
msg:    .asciz "nubo-kvm-ok\n"
        .org 510
        .byte 0x55, 0xaa
"""

PROBE_CODE = bytes.fromhex(
    "fa31c08ed88ed0bc007c660f0116c07c0f20c06683c8010f22c066ea227c0000080066b810008ed88ec08ed0"
    "bc007c0000bf00100000b900010000b8967c000066890766c74702080066c74704008e89c2c1ea1066895706"
    "83c708e2e30f011dc67c0000c7050009000000000000cd30cd31fbf4833d000900000672f6fabecc7c000066"
    "baf803ac84c07403eeebf8b000e6f4f4ebfdff050009000050b020e62058cf8d742600900000000000000000"
    "ffff0000009acf00ffff00000092cf001700a87c0000ff07001000006e75626f2d6b766d2d6f6b0a00"
)


def boot_sector() -> bytes:
    """The probe as a 512-byte MBR boot sector."""
    return PROBE_CODE + bytes(510 - len(PROBE_CODE)) + b"\x55\xaa"


def probe_command(sector: Path, output: Path) -> list[str]:
    return [
        QEMU,
        "-accel",
        "kvm",
        "-no-user-config",
        "-nodefaults",
        "-display",
        "none",
        "-m",
        "16",
        "-serial",
        f"file:{output}",
        "-monitor",
        "none",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-drive",
        f"file={sector},format=raw,if=ide",
    ]


def kvm_usable(cache_dir: Path | None = None) -> tuple[bool, str]:
    """(True, why) if KVM boots the probe here.

    Probed once per process; with cache_dir (if it exists), the answer is also
    kept in ``cache_dir/_kvm_probe.json`` for as long as the kernel, QEMU and
    /dev/kvm stay the same (a failing probe can take several seconds)."""
    if cache_dir is None:
        return _probe()
    key = _host_key()
    path = cache_dir / "_kvm_probe.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        saved = json.loads(path.read_text())
        if saved["key"] == key:
            return bool(saved["ok"]), str(saved["reason"])
    ok, reason = _probe()
    # Only into a directory that exists (nubo doctor must not create the data dir).
    with contextlib.suppress(OSError):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"key": key, "ok": ok, "reason": reason}))
        os.replace(tmp, path)
    return ok, reason


def _host_key() -> str:
    try:
        rdev = os.stat("/dev/kvm").st_rdev
    except OSError:
        rdev = -1
    try:
        version = subprocess.run(
            [QEMU, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split("\n", 1)[0]
    except OSError:
        version = "no qemu"
    return f"{os.uname().release}|{version}|{rdev}"


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[bool, str]:
    dev = Path("/dev/kvm")
    if not dev.exists():
        return False, "/dev/kvm is absent"
    try:
        os.close(os.open(dev, os.O_RDWR))
    except OSError as exc:
        return False, f"/dev/kvm cannot be opened ({exc.strerror})"
    if shutil.which(QEMU) is None:
        return False, f"{QEMU} is not installed"
    with tempfile.TemporaryDirectory(prefix="nubo-kvm-probe-") as tmp:
        sector = Path(tmp) / "probe.img"
        sector.write_bytes(boot_sector())
        output = Path(tmp) / "serial.out"
        log = Path(tmp) / "qemu.log"
        return _run_probe(probe_command(sector, output), output, log)


def _run_probe(cmd: list[str], output: Path, log: Path) -> tuple[bool, str]:
    start = time.monotonic()
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        while time.monotonic() - start < PROBE_TIMEOUT:
            if proc.poll() is not None:
                break
            if b"KVM internal error" in log.read_bytes():
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    seconds = time.monotonic() - start
    printed = output.read_bytes() if output.exists() else b""
    messages = log.read_bytes().decode(errors="replace")
    if OK_TEXT in printed:
        return True, f"KVM booted a probe guest in {seconds:.1f}s"
    if "KVM internal error" in messages:
        return False, "KVM stops guests with an internal error (emulation failure) on this host"
    if "could not access kvm" in messages.lower() or "failed to initialize kvm" in messages.lower():
        return False, "QEMU cannot use /dev/kvm"
    lines = [line for line in messages.splitlines() if "warning" not in line]
    detail = f": {lines[-1]}" if lines else ""
    return False, f"KVM did not boot a probe guest within {PROBE_TIMEOUT:.0f}s{detail}"
