"""pytest glue for the domxml tests: the end-of-run report of corpus pairs matched per check."""

from __future__ import annotations

from domxml_corpus import RESULTS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("domxml: xend-sexpr corpus pairs matched")
    for (folder, check), items in sorted(RESULTS.items()):
        ok = sum(1 for _, good in items if good)
        line = f"{folder:14s} {check:58s} {ok:3d}/{len(items):<3d}"
        failed = [case for case, good in items if not good]
        if failed and len(failed) <= 6:
            line += "  not matched: " + ", ".join(failed)
        tr.write_line(line)
