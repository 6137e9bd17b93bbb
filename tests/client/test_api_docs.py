"""docs/api.md names what the code has, and Domain.state()/info() return one type for every domain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import importlib

import xvirt
from xvirt import constants
from xvirt.constants import DomainState, ListFlags

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_dotted_name_in_the_api_doc_exists():
    text = API_MD.read_text()
    names = set(re.findall(r"`(xvirt(?:\.\w+)+)", text))
    assert "xvirt.constants.ListFlags" in names and "xvirt.constants.DomainState" in names
    for dotted in names:
        parts = dotted.split(".")
        obj = xvirt
        for i, p in enumerate(parts[1:], 2):
            if not hasattr(obj, p):  # a submodule its package does not import itself
                try:
                    importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    pass
            assert hasattr(obj, p), f"docs/api.md names {dotted}, which does not exist"
            obj = getattr(obj, p)


def test_the_flag_and_state_members_named_in_the_api_doc_exist():
    text = API_MD.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `list_all_domains("))
    members = re.findall(r"`([A-Z_]+)`", row)
    assert len(members) >= 8
    for m in members:
        assert m in ListFlags.__members__, m
    states = re.search(r"State numbers are libvirt's .*?\n\n", text, re.S).group(0)
    for name, number in re.findall(r"([A-Z]+) (\d+)", states):
        assert DomainState[name] == int(number)
    assert "LIST_" not in text.replace("VIR_CONNECT_LIST_DOMAINS_", "")
    assert not [n for n in dir(constants) if n.startswith("LIST_")]


def test_every_method_in_the_api_tables_exists():
    text = API_MD.read_text()
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].split()[0]
        if not line.startswith("| `") or section not in ("Connection", "Domain"):
            continue
        cls = xvirt.Connection if section == "Connection" else xvirt.Domain
        first_cell = line.split("|")[1]
        for name in re.findall(r"`(\w+)", first_cell):
            assert hasattr(cls, name), f"docs/api.md: {section}.{name} does not exist"


@pytest.mark.simhost(domains=3, inactive=1)
def test_state_is_a_domain_state_member_for_running_and_inactive_domains(simhost):
    with xvirt.open(simhost.uri) as conn:
        doms = conn.list_all_domains()
        kinds = set()
        for d in doms:
            state, reason = d.state()
            assert type(state) is DomainState, (d.name, type(state))
            assert type(reason) is int
            assert type(d.info().state) is DomainState and d.info().state == state
            kinds.add(d.is_active())
        assert kinds == {True, False}
        web = conn.lookup_by_name("web-01")
        assert web.state()[0] in (DomainState.RUNNING, DomainState.BLOCKED) and web.state()[0] in (1, 2)
