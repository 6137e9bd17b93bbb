"""XenD's relocation service for the simulated host: receives a migrating domain's image and restores it here.

Real XenD listens on TCP 8002 (``xend-relocation-server``) and the source XenD streams the
domain's save image to it (``XendCheckpoint.save`` into the socket, ``restore`` on the far side).
The simulated host listens on the unix socket ``relocation.sock`` in its state directory (0600):
a peer sends the image length (4 bytes, big-endian) and the image (the save image format of
``sim/store.py``, bounded), and the host restores it under the same UUID with a new id of its
own; the reply is one line, ``ok <domid>`` or ``err <message>``. One deadline covers each
exchange on both sides. ``send_image`` is the source side.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

__all__ = ["RelocationServer", "send_image", "MAX_IMAGE", "check_destination"]

MAX_IMAGE = 1 << 20
_LEN = struct.Struct(">I")
DEADLINE = 10.0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise OSError("peer closed the connection")
        buf += chunk
    return bytes(buf)


def check_destination(path: str) -> str:
    """The relocation socket ``path`` names, if it is another simulated host's of this user:
    ``<dir>/relocation.sock`` where ``dir`` holds the simulator's marker and is ours; else ValueError."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise ValueError(f"invalid relocation destination '{path}'")
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    if os.path.basename(real) != "relocation.sock" or not os.path.isfile(os.path.join(directory, ".xvirt-sim")):
        raise ValueError(f"'{path}' is not a simulated host's relocation socket")
    st = os.stat(directory)
    if st.st_uid != os.getuid():
        raise ValueError(f"'{path}' belongs to another user")
    return real


def send_image(path: str, image: bytes, timeout: float = DEADLINE) -> int:
    """Send ``image`` to the relocation socket at ``path``; the domain's id on the target."""
    import time
    end = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(check_destination(path))
        s.sendall(_LEN.pack(len(image)) + image)
        reply = b""
        while not reply.endswith(b"\n") and len(reply) < 4096:
            s.settimeout(max(0.01, end - time.monotonic()))
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    text = reply.decode("utf-8", "replace").strip()
    if text.startswith("ok "):
        return int(text[3:])
    raise RuntimeError(text[4:] if text.startswith("err ") else f"relocation failed: {text or 'no reply'}")


class RelocationServer:
    def __init__(self, host, path: str, save_dir: str) -> None:
        self.host, self.path, self.save_dir = host, path, save_dir
        self._stop = threading.Event()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.sock.listen(8)
        self.sock.settimeout(0.2)

    def start(self) -> None:
        threading.Thread(target=self._serve, name="xvirt-relocation", daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(DEADLINE)
            try:
                (n,) = _LEN.unpack(_recv_exact(conn, _LEN.size))
                if n > MAX_IMAGE:
                    raise ValueError(f"image larger than {MAX_IMAGE} bytes")
                image = _recv_exact(conn, n)
                name = f".incoming-{os.getpid()}-{threading.get_ident()}.img"
                path = os.path.join(self.save_dir, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(image)
                try:
                    dom = self.host.op_restore(name)
                finally:
                    os.unlink(path)
                conn.sendall(f"ok {dom.domid}\n".encode())
            except Exception as e:  # noqa: BLE001 - every failure is the peer's answer
                msg = getattr(e, "message", None) or str(e)
                try:
                    conn.sendall(f"err {msg}\n".encode("utf-8", "replace")[:4000])
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
