"""The real-Xen image cache and boot launcher: build once per recipe hash, boot with a checkout payload.

The image (Xen 4.17 + Debian 12 dom0, see build.sh) lives in
``${XDG_CACHE_HOME:-~/.cache}/xvirt/realxen/<hash>``; the hash covers build.sh and every file under
files/, so changing the recipe builds a new image and an unchanged recipe reuses the cached one.
A boot copies a payload directory (the checkout's src/, tests, examples) into the initramfs, runs one
shell script in dom0 as root and returns its exit status and output (run.sh / qrun.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ARTEFACTS = ("xen.elf", "vmlinuz", "initrd-base.cpio", "rootfs.img")
RECIPE = ("build.sh",)


def recipe_files() -> list[Path]:
    return [HERE / f for f in RECIPE] + sorted(p for p in (HERE / "files").iterdir() if p.is_file())


def recipe_hash() -> str:
    h = hashlib.sha256()
    for p in recipe_files():
        h.update(p.relative_to(HERE).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xvirt" / "realxen"


def image_dir() -> Path:
    return cache_root() / recipe_hash()


def is_built(d: Path | None = None) -> bool:
    d = d or image_dir()
    return all((d / f).is_file() for f in ARTEFACTS)


@dataclass
class BuildResult:
    path: Path
    built: bool        # False: reused the cached image
    seconds: float


def ensure_image(log=None) -> BuildResult:
    """The image directory for the current recipe, building it (under a lock) if it is missing."""
    d = image_dir()
    t0 = time.monotonic()
    if is_built(d):
        return BuildResult(d, False, 0.0)
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.parent / (d.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)           # a concurrent builder finishes first; then we reuse
        if is_built(d):
            return BuildResult(d, False, time.monotonic() - t0)
        env = dict(os.environ, OUT=str(d))
        r = subprocess.run(["bash", str(HERE / "build.sh")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if log is not None:
            log.write(r.stdout.decode(errors="replace"))
        if r.returncode != 0 or not is_built(d):
            raise RuntimeError(f"real-Xen image build failed (rc={r.returncode}):\n"
                               + r.stdout.decode(errors="replace")[-4000:])
    return BuildResult(d, True, time.monotonic() - t0)


def make_payload(dest: Path, extra: dict[str, Path] | None = None) -> Path:
    """Copy the checkout pieces dom0 needs into ``dest/checkout`` (src, dom0 tests, examples, data)."""
    co = dest / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for rel in ("src", "examples", "tests/realxen/dom0", "tests/data/realxen", "bench"):
        src = REPO / rel
        if src.exists():
            shutil.copytree(src, co / rel, ignore=ignore)
    for name, path in (extra or {}).items():
        shutil.copy(path, dest / name)
    # bytecode compiled here (fast) is valid in dom0 when the minor versions match (both 3.11 on
    # Debian 12); under QEMU's emulated CPU, compiling the sources costs seconds per process
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(co)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return co


@dataclass
class BootResult:
    rc: int
    output: str
    seconds: float


def boot(script: str, *, timeout: float = 900, cpu: str = "Nehalem", extra: dict[str, Path] | None = None,
         log: str | None = None) -> BootResult:
    """Boot the cached image, run ``script`` (shell) in dom0 with the checkout at /run/xenqemu/checkout."""
    d = ensure_image().path
    with tempfile.TemporaryDirectory(prefix="xvirt-realxen-") as tmp:
        pay = Path(tmp) / "payload"
        pay.mkdir()
        make_payload(pay, extra)
        (pay / "test.sh").write_text(script)
        env = dict(os.environ, XENQEMU_DIR=str(d), XENQEMU_PAYLOAD=str(pay), XENQEMU_CPU=cpu,
                   TIMEOUT=str(int(timeout)))
        if log:
            env["XENQEMU_LOG"] = log
        t0 = time.monotonic()
        r = subprocess.run(["bash", str(HERE / "run.sh")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return BootResult(r.returncode, r.stdout.decode(errors="replace"), time.monotonic() - t0)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["path"]:
        print(image_dir())
    elif sys.argv[1:2] == ["build"]:
        res = ensure_image(log=sys.stdout)
        print(f"{res.path} {'built' if res.built else 'cached'} in {res.seconds:.1f}s")
    else:
        sys.exit("usage: python3 realxen/image.py path|build")
