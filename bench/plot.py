"""The plot: time vs N, log-log, one line per strategy, one panel per workload (matplotlib, else a tiny PNG writer).

matplotlib is not a dependency of xvirt; the benchmark's setup installs it when it can. Without it
:func:`write_png_fallback` draws the same panels with lines and a 5x7 pixel font, and encodes the
PNG itself (zlib + struct).
"""

from __future__ import annotations

import math
import struct
import zlib

__all__ = ["write_plot", "write_png_fallback", "series"]

PANELS = ("W1", "W2", "W3", "W3w", "W4")
TITLES = {"W1": "W1 virsh list", "W2": "W2 monitor loop (5x)", "W3": "W3 bulk stats (fresh connection)",
          "W3w": "W3w bulk stats (warm connection)", "W4": "W4 monitor loop under churn"}
COLORS = {"prepatch": (214, 39, 40), "patch1": (255, 127, 14), "patch2": (188, 189, 34),
          "xvirt-strict": (31, 119, 180), "xvirt-xend": (23, 190, 207), "xvirt-stale": (148, 103, 189),
          "libvirt": (44, 160, 44), "floor": (0, 0, 0)}


def series(data: dict) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{workload: {strategy: [(N, median seconds), ...]}} plus the floor under every workload."""
    out: dict = {wl: {} for wl in PANELS}
    for c in data["cells"]:
        if c["status"] == "ok" and c["workload"] in out:
            out[c["workload"]].setdefault(c["strategy"], []).append((c["n"], c["median_s"]))
    floor = sorted((int(n), f["median_s"]) for n, f in data["floor"].items())
    for wl in PANELS:
        for pts in out[wl].values():
            pts.sort()
        if floor:
            out[wl]["floor"] = floor
    return out


def write_plot(data: dict, path: str, names: dict[str, str]) -> str:
    """Write the PNG; returns which writer made it ("matplotlib" or "fallback")."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        write_png_fallback(data, path, names)
        return "fallback"
    s = series(data)
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    for ax, wl in zip(axes.flat, PANELS):
        for key, pts in s[wl].items():
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            color = tuple(c / 255 for c in COLORS.get(key, (90, 90, 90)))
            style = "--" if key == "floor" else "-"
            ax.loglog(xs, ys, style, marker="o", ms=4, color=color, label=names.get(key, key))
        ax.set_title(TITLES[wl])
        ax.set_xlabel("N (guests)")
        ax.set_ylabel("seconds (median)")
        ax.grid(True, which="major", alpha=0.3)
    legend = axes.flat[-1]
    legend.axis("off")
    handles = {}
    for ax in axes.flat[:-1]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    legend.legend(handles.values(), handles.keys(), loc="center", fontsize=11)
    lat = data["meta"]["settings"]["latency_ms"]
    fig.suptitle(f"xvirt vs the 2006 algorithms, libvirt 9 and the floor (XenD latency {lat:g} ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return "matplotlib"


# -- the fallback ------------------------------------------------------------------------------
_FONT = {  # 5x7 glyphs, one int per row, bit 4 = leftmost pixel
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14), "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (30, 1, 1, 14, 1, 1, 30), "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8), "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12), "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14), "D": (30, 17, 17, 17, 17, 17, 30), "E": (31, 16, 16, 30, 16, 16, 31),
    "F": (31, 16, 16, 30, 16, 16, 16), "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14), "J": (7, 2, 2, 2, 2, 18, 12), "K": (17, 18, 20, 24, 20, 18, 17),
    "L": (16, 16, 16, 16, 16, 16, 31), "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14), "P": (30, 17, 17, 30, 16, 16, 16), "Q": (14, 17, 17, 17, 21, 18, 13),
    "R": (30, 17, 17, 30, 20, 18, 17), "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14), "V": (17, 17, 17, 17, 17, 10, 4), "W": (17, 17, 17, 21, 21, 21, 10),
    "X": (17, 17, 10, 4, 10, 17, 17), "Y": (17, 17, 10, 4, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31),
    " ": (0,) * 7, ".": (0, 0, 0, 0, 0, 12, 12), "-": (0, 0, 0, 31, 0, 0, 0), "=": (0, 0, 31, 0, 31, 0, 0),
    "(": (2, 4, 8, 8, 8, 4, 2), ")": (8, 4, 2, 2, 2, 4, 8), "/": (1, 1, 2, 4, 8, 16, 16),
    ":": (0, 12, 12, 0, 12, 12, 0), "_": (0, 0, 0, 0, 0, 0, 31), "+": (0, 4, 4, 31, 4, 4, 0),
}


class _Canvas:
    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x: int, y: int, c: tuple) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def line(self, x0: float, y0: float, x1: float, y1: float, c: tuple, width: int = 2, dash: int = 0) -> None:
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for k in range(steps + 1):
            if dash and (k // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * k / steps)
            y = round(y0 + (y1 - y0) * k / steps)
            for dx in range(width):
                for dy in range(width):
                    self.dot(x + dx, y + dy, c)

    def text(self, x: int, y: int, s: str, c: tuple = (0, 0, 0)) -> None:
        for ch in s.upper():
            rows = _FONT.get(ch, _FONT[" "])
            for r, bits in enumerate(rows):
                for b in range(5):
                    if bits >> (4 - b) & 1:
                        self.dot(x + b, y + r, c)
            x += 6

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_png_fallback(data: dict, path: str, names: dict[str, str]) -> None:
    s = series(data)
    pw, ph, cols = 420, 300, 3
    cv = _Canvas(pw * cols, ph * 2 + 20)
    xs = [p[0] for wl in s.values() for pts in wl.values() for p in pts] or [10, 100]
    ys = [p[1] for wl in s.values() for pts in wl.values() for p in pts if p[1] > 0] or [1e-3, 1]
    x_lo, x_hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y_lo, y_hi = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x_hi, y_hi = max(x_hi, x_lo + 1), max(y_hi, y_lo + 1)
    for idx, wl in enumerate(PANELS):
        ox, oy = (idx % cols) * pw + 50, (idx // cols) * ph + 30
        w, h = pw - 70, ph - 70

        def X(v: float) -> float:
            return ox + (math.log10(v) - x_lo) / (x_hi - x_lo) * w

        def Y(v: float) -> float:
            return oy + h - (math.log10(v) - y_lo) / (y_hi - y_lo) * h
        cv.text(ox, oy - 20, TITLES[wl][:60])
        for d in range(x_lo, x_hi + 1):
            cv.line(X(10 ** d), oy, X(10 ** d), oy + h, (225, 225, 225), 1)
            cv.text(int(X(10 ** d)) - 8, oy + h + 6, f"1E{d}")
        for d in range(y_lo, y_hi + 1):
            cv.line(ox, Y(10 ** d), ox + w, Y(10 ** d), (225, 225, 225), 1)
            cv.text(ox - 46, int(Y(10 ** d)) - 3, f"1E{d}S")
        cv.line(ox, oy + h, ox + w, oy + h, (0, 0, 0), 1)
        cv.line(ox, oy, ox, oy + h, (0, 0, 0), 1)
        for key, pts in s[wl].items():
            c = COLORS.get(key, (90, 90, 90))
            pts = [p for p in pts if p[1] > 0]
            for (a, b), (p, q) in zip(pts, pts[1:]):
                cv.line(X(a), Y(b), X(p), Y(q), c, 2, dash=6 if key == "floor" else 0)
            for a, b in pts:
                cv.line(X(a) - 2, Y(b) - 2, X(a) - 2, Y(b) + 2, c, 5)
    lx, ly = 2 * pw + 40, ph + 40
    for k, key in enumerate(list(COLORS)):
        cv.line(lx, ly + k * 22 + 3, lx + 30, ly + k * 22 + 3, COLORS[key], 3, dash=6 if key == "floor" else 0)
        cv.text(lx + 40, ly + k * 22, names.get(key, key)[:40])
    cv.text(lx, ly - 20, "TIME (MEDIAN) VS N, LOG-LOG")
    with open(path, "wb") as f:
        f.write(cv.png())
