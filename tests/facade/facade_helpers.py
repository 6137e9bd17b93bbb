"""Helpers for the facade tests: the simulator's truth in the shapes the tests compare with."""

STATE_LETTERS = {"r": 1, "b": 2, "p": 3, "s": 4, "c": 6}


def truth_state(flags: str) -> int:
    """libvirt's state number for an xm-style state string such as '-b----' (no letter: NOSTATE)."""
    for letter, state in STATE_LETTERS.items():
        if letter in flags:
            return state
    return 0


def running(host) -> list[dict]:
    return sorted(host.control.truth()["running"], key=lambda d: d["domid"])


def inactive(host) -> list[dict]:
    return host.control.truth()["inactive"]


def by_name(host, name: str) -> dict:
    t = host.control.truth()
    for d in t["running"] + t["inactive"]:
        if d["name"] == name:
            return d
    raise AssertionError(f"{name} not in the simulator's truth")
