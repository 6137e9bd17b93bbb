"""The libvirt xend-sexpr test pairs (tests/data/corpus/xend-sexpr) as test cases, and a results tally.

The corpus is part of the repository (provenance in its SOURCES.md). If it is missing the tests
fail (never skip): :func:`corpus_dir` raises with the path it looked at.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "corpus" / "xend-sexpr"
FOLDERS = ("domain-get", "create-config")


class CorpusMissing(AssertionError):
    pass


def corpus_dir() -> Path:
    if not (CORPUS / "domain-get" / "CASES.tsv").is_file() or \
            not (CORPUS / "create-config" / "CASES.tsv").is_file():
        raise CorpusMissing(f"xend-sexpr corpus not found at {CORPUS} (expected domain-get/ and "
                            "create-config/ with their CASES.tsv)")
    return CORPUS


@dataclass(frozen=True)
class Pair:
    folder: str           # domain-get | create-config
    case: str
    sexpr_file: str
    xml_file: str         # '' when the pair has no XML
    fmt: int              # the xend_config_format used for this run
    listed_fmt: str       # as written in CASES.tsv (e.g. '1;2')
    pairing: str          # exact | nearest | missing
    era: str              # pair_era column

    @property
    def id(self) -> str:
        return f"{self.case}-f{self.fmt}"

    def sexpr_path(self) -> Path:
        return CORPUS / self.folder / self.sexpr_file

    def xml_path(self) -> Path | None:
        return CORPUS / self.folder / self.xml_file if self.xml_file else None


def effective_formats(row: dict) -> list[int]:
    """The formats to run a CASES row with.

    ``1;2`` runs twice (libvirt ran ``pv`` with both). Rows whose pair_era is E3 were produced by
    libvirt's version-less driver, which (CASES.tsv says so in that column) behaves like format 4,
    whatever format the older driver passed; those run with 4.
    """
    if row["pair_era"].startswith("E3"):
        return [4]
    return [int(x) for x in row["xend_config_format"].split(";")]


def load_pairs(folder: str) -> list[Pair]:
    base = corpus_dir() / folder
    with open(base / "CASES.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Pair(folder, r["case"], r["sexpr_file"], r["xml_file"], fmt, r["xend_config_format"],
                 r["pairing"], r["pair_era"]) for r in rows for fmt in effective_formats(r)]


def pair_params(folder: str, *, with_xml: bool = True) -> list[Pair]:
    """Pairs for parametrisation; an empty list here would hide a missing corpus, so fail."""
    try:
        pairs = load_pairs(folder)
    except CorpusMissing:
        return [Pair(folder, "CORPUS-MISSING", "", "", 0, "", "missing", "")]
    return [p for p in pairs if bool(p.xml_file) == with_xml or p.case == "CORPUS-MISSING"]


# -- tally for the end-of-run report ------------------------------------------------------------

RESULTS: dict[tuple[str, str], list[tuple[str, bool]]] = {}


def record(folder: str, check: str, case_id: str, ok: bool) -> None:
    RESULTS.setdefault((folder, check), []).append((case_id, ok))
