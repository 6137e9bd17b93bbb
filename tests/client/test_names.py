"""Names XenD cannot carry (issue 12, item 5): refused at define/create/rename with a clear error,
and a lookup of such a name answers "no such domain" (never "invalid XenD request path")."""

import pytest

import xvirt
from xvirt.errors import InvalidArgError, NoDomainError, XMLError

REFUSED = (InvalidArgError, XMLError)  # XML refuses over-long names itself

pytestmark = pytest.mark.simhost(domains=3)

BAD = ["a/b", "/x", "web/01", "sp ace", "semi;colon", "x\u00e9", "n" * 1025]


def xml(name: str) -> str:
    return (f"<domain type='xen'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>"
            "<os><type>linux</type><kernel>/boot/vmlinuz</kernel></os></domain>")


@pytest.fixture
def conn(simhost):
    with xvirt.open(simhost.uri) as c:
        yield c


def names(conn) -> list[str]:
    return sorted(d.name for d in conn.list_all_domains())


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_refused_and_lookups_say_no_such_domain(conn, name):
    before = names(conn)
    with pytest.raises(REFUSED) as ei:
        conn.define_xml(xml(name))
    assert "name" in str(ei.value)
    with pytest.raises(REFUSED):
        conn.create_xml(xml(name))
    victim = conn.lookup_by_name(before[-1])
    with pytest.raises(InvalidArgError):
        victim.rename(name)
    assert names(conn) == before
    with pytest.raises(NoDomainError) as ei:
        conn.lookup_by_name(name)
    assert "Domain not found" in str(ei.value)
    with pytest.raises(NoDomainError):
        conn.lookup(name)


def test_a_name_with_every_allowed_character_round_trips(conn):
    name = "Az09_-.:+x"
    dom = conn.define_xml(xml(name))
    assert conn.lookup_by_name(name) == dom and dom.name == name
    assert name in names(conn)
    dom.create()
    assert conn.lookup_by_name(name).id > 0
