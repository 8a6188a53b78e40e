"""Contact search, filters, sorts and cursor pagination, and segments, over HTTP.

Every test runs on SQLite and on PostgreSQL (the ``api`` fixture), so each matcher,
filter and sort is shown to mean the same thing on both.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.http.conftest import Api

ANA = {
    "kind": "person",
    "name": "Ana García",
    "emails": ["ana.garcia@example.com"],
    "phones": ["+34 600-111-222"],
    "tax_id": "12345678-Z",
    "tags": ["vip", "b2b"],
    "owner": "user:1",
    "custom_fields": {"region": "north", "employees": 12, "active": True},
}
ALVARO = {
    "kind": "person",
    "name": "Álvaro Núñez",
    "emails": ["alvaro@nunez.es"],
    "phones": ["+34 (911) 222-333"],
    "tags": ["b2b"],
    "owner": "user:2",
    "custom_fields": {"region": "south"},
}
ACME = {
    "kind": "organisation",
    "name": "Acme SL",
    "emails": ["hello@acme.test"],
    "tax_id": "B-8765 4321",
    "tags": ["vip"],
    "custom_fields": {"region": "north", "employees": "12"},
}
ZOE = {"kind": "person", "name": "Zoe Ng", "owner": "user:1"}
EVERYONE = (ANA, ALVARO, ACME, ZOE)


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/contacts", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def seed(api: Api) -> dict[str, dict[str, Any]]:
    """The four contacts above, created in that order; by name."""
    return {body["name"]: create(api, body) for body in EVERYONE}


def listed(api: Api, url: str = "/contacts", **params: Any) -> list[str]:
    """Names on the first page (limit 200)."""
    response = api.get(url, params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()["items"]]


def every_page(api: Api, url: str = "/contacts", **params: Any) -> list[str]:
    """Names of every page, following next_cursor."""
    names: list[str] = []
    cursor = None
    for _ in range(100):
        query = {**params} if cursor is None else {**params, "cursor": cursor}
        response = api.get(url, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        names += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("garcia", ["Ana García"]),  # accents folded
        ("GARC", ["Ana García"]),  # case folded
        ("arcí", ["Ana García"]),  # a substring inside a word
        ("garcia ana", ["Ana García"]),  # every word starts a word, in any order
        ("nunez", ["Álvaro Núñez"]),  # name and email
        ("alvaro@nunez", ["Álvaro Núñez"]),  # email text
        ("acme.test", ["Acme SL"]),
        ("600 111", ["Ana García"]),  # phone digits, whatever the punctuation
        ("911-222-333", ["Álvaro Núñez"]),
        ("34911", ["Álvaro Núñez"]),  # "+34 (911)" stored as digits only
        ("12345678z", ["Ana García"]),  # tax id letters and digits, any case
        ("b87654321", ["Acme SL"]),
        ("8765-4321", ["Acme SL"]),
        ("vip", ["Acme SL", "Ana García"]),  # tags
        ("north", ["Acme SL", "Ana García"]),  # custom field values
        ("an", ["Ana García"]),  # under 3 characters: word prefixes only
        ("na", []),  # inside "ana" but no word starts with it
        ("zo ng", ["Zoe Ng"]),
        ("@@", []),  # no letter or digit: nothing
        ("true", []),  # boolean custom values are not text
    ],
)
def test_q_matches_each_field(api: Api, q: str, expected: list[str]) -> None:
    """`q` finds contacts by name, email, phone digits, tax id, tag and custom value."""
    seed(api)
    assert expected == sorted(listed(api, q=q))


def test_q_sees_updates_and_leaves_archived_out(api: Api) -> None:
    """The search document follows each change; archived contacts need archived=true."""
    ana = seed(api)["Ana García"]
    changed = api.patch(
        f"/contacts/{ana['id']}",
        json={"phones": ["+1 555 0100"], "custom_fields": {"region": "west"}},
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert [] == listed(api, q="600111")
    assert ["Ana García"] == listed(api, q="15550100")
    assert ["Acme SL"] == listed(api, q="north")
    assert ["Ana García"] == listed(api, q="west")
    archived = api.post(f"/contacts/{ana['id']}/archive", headers={"If-Match": '"2"'})
    assert archived.status_code == 200
    assert [] == listed(api, q="garcia")
    assert ["Ana García"] == listed(api, q="garcia", archived="true")


def test_relevance_orders_name_prefix_then_word_then_substring(api: Api) -> None:
    """With q, names starting with it come first, then contacts with a word starting
    with it, then other matches; the cursor keeps that order across pages."""
    for body in (
        {"kind": "person", "name": "Mariana Ruiz"},  # "ana" inside a word: tier 1
        {"kind": "person", "name": "Bob Smith", "emails": ["ana@bob.test"]},  # a word: 2
        {"kind": "person", "name": "Ana Zapata"},  # the name starts with it: 3
        {"kind": "person", "name": "Ana Alonso"},
        {"kind": "person", "name": "Carla Ruiz"},  # no match
    ):
        create(api, body)
    expected = ["Ana Alonso", "Ana Zapata", "Bob Smith", "Mariana Ruiz"]
    assert expected == listed(api, q="ana")
    assert expected == every_page(api, q="ana", limit=1)
    assert sorted(expected) == every_page(api, q="ana", sort="name", limit=3)
    assert ["Mariana Ruiz"] == listed(api, q="ruiz mar")  # every word: "mar" and "ruiz"


def test_filters(api: Api) -> None:
    """Each filter alone and combined (AND)."""
    seed(api)
    assert ["Acme SL"] == listed(api, kind="organisation")
    assert ["Acme SL", "Ana García"] == listed(api, tag="vip")
    assert ["Ana García"] == listed(api, tag=["vip", "b2b"])  # all of them
    assert [] == listed(api, tag=["vip", "nope"])
    assert ["Ana García", "Zoe Ng"] == listed(api, owner="user:1")
    assert ["Acme SL", "Álvaro Núñez", "Ana García"] == listed(api, has_email="true")
    assert ["Zoe Ng"] == listed(api, has_email="false")
    assert ["Acme SL", "Ana García"] == listed(api, **{"cf.region": "north"})
    assert ["Acme SL", "Ana García"] == listed(api, **{"cf.employees": "12"})  # 12 and "12"
    assert ["Ana García"] == listed(api, **{"cf.active": "true"})
    assert [] == listed(api, **{"cf.active": "false"})
    assert ["Ana García"] == listed(api, **{"cf.region": "north", "cf.active": "true"})
    assert ["Ana García"] == listed(api, kind="person", tag="vip", q="ana", owner="user:1")
    bad = api.get("/contacts", params={"cf.": "x"})
    assert bad.status_code == 422
    assert [{"parameter": "cf.", "detail": bad.json()["errors"][0]["detail"]}] == bad.json()[
        "errors"
    ]


def test_created_after_and_before(api: Api) -> None:
    """created_after is inclusive, created_before exclusive."""
    made = seed(api)
    at = made["Álvaro Núñez"]["created_at"]
    after = listed(api, created_after=at, sort="created")
    assert ["Álvaro Núñez", "Acme SL", "Zoe Ng"] == after
    assert ["Ana García"] == listed(api, created_before=at)
    both = listed(api, created_after=at, created_before=made["Zoe Ng"]["created_at"])
    assert ["Acme SL", "Álvaro Núñez"] == both
    assert listed(api, created_after="2999-01-01T00:00:00+02:00") == []
    assert 4 == len(listed(api, created_after="2000-01-01T00:00:00"))  # naive = UTC


def test_every_sort_pages_in_a_stable_order(api: Api) -> None:
    """name, created and updated, ascending and descending, page by page (2 a page)."""
    bodies = [
        {"kind": "person", "name": n}
        for n in ("delta", "Álvaro", "charlie", "Bravo", "echo", "alpha", "Émile")
    ]
    made = [create(api, b) for b in bodies]
    by_name = ["alpha", "Álvaro", "Bravo", "charlie", "delta", "echo", "Émile"]
    created = [b["name"] for b in bodies]
    for contact in (made[4], made[0], made[2]):  # updated last: echo, delta, charlie
        renamed = api.patch(
            f"/contacts/{contact['id']}",
            json={"tags": ["touched"]},
            headers={"If-Match": '"1"'},
        )
        assert renamed.status_code == 200, renamed.text
    updated = ["Álvaro", "Bravo", "alpha", "Émile", "echo", "delta", "charlie"]
    expected = {"name": by_name, "created": created, "updated": updated}
    for sort, order in expected.items():
        assert order == every_page(api, sort=sort, limit=2), sort
        assert order[::-1] == every_page(api, sort=f"-{sort}", limit=2), sort
    assert by_name == every_page(api, limit=3)  # the default
    assert by_name == every_page(api, sort="relevance", limit=3)  # no q: by name


def test_cursor_pages_neither_skip_nor_repeat_when_rows_change(api: Api) -> None:
    """A keyset cursor continues after the last row seen, whatever is written between."""
    for name in ("b", "d", "f", "h"):
        create(api, {"kind": "person", "name": name})
    first = api.get("/contacts", params={"limit": 2}).json()
    assert ["b", "d"] == [c["name"] for c in first["items"]]
    create(api, {"kind": "person", "name": "a"})  # before the cursor: not seen
    create(api, {"kind": "person", "name": "e"})  # after it: seen
    rest = every_page(api, limit=2, cursor=first["next_cursor"])
    assert ["e", "f", "h"] == rest


def test_bad_cursors_and_sorts(api: Api) -> None:
    """A cursor of another sort, a forged one, and an unknown sort are refused."""
    for name in ("a", "b", "c"):
        create(api, {"kind": "person", "name": name})
    cursor = api.get("/contacts", params={"limit": 1, "sort": "name"}).json()["next_cursor"]
    assert cursor
    other = api.get("/contacts", params={"limit": 1, "sort": "created", "cursor": cursor})
    assert other.status_code == 400
    assert other.json()["code"] == "malformed_cursor"
    forged = api.get("/contacts", params={"cursor": "not-a-cursor"})
    assert forged.status_code == 400
    unknown = api.get("/contacts", params={"sort": "colour"})
    assert unknown.status_code == 422


# -- segments ---------------------------------------------------------------------------

VIP_NORTH = {"tags": ["vip"], "custom_fields": {"region": "north"}}


def save_segment(api: Api, definition: dict[str, Any], name: str = "VIP north") -> Any:
    return api.post("/segments", json={"name": name, "definition": definition})


def test_segment_lifecycle(api: Api) -> None:
    """Create, read, list, evaluate, redefine (If-Match), delete; each step with its ETag."""
    seed(api)
    created = save_segment(api, VIP_NORTH)
    assert created.status_code == 201, created.text
    segment = created.json()
    sid = segment["id"]
    assert created.headers["location"] == f"/segments/{sid}"
    assert created.headers["etag"] == '"1"'
    assert segment["definition"] == {"custom_fields": {"region": "north"}, "tags": ["vip"]}
    assert segment["owner"] == f"apikey:{api.crm.authenticate(api.token).key_id}"  # type: ignore[union-attr]

    assert ["Acme SL", "Ana García"] == listed(api, f"/segments/{sid}/contacts")
    assert ["Ana García", "Acme SL"] == every_page(
        api, f"/segments/{sid}/contacts", sort="-name", limit=1
    )
    assert [sid] == [s["id"] for s in api.get("/segments").json()["items"]]
    assert api.get(f"/segments/{sid}").headers["etag"] == '"1"'

    stale = api.patch(f"/segments/{sid}", json={"name": "x"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    redefined = api.patch(
        f"/segments/{sid}",
        json={"definition": {"q": "ana", "has_email": True}},
        headers={"If-Match": '"1"'},
    )
    assert redefined.status_code == 200, redefined.text
    assert redefined.headers["etag"] == '"2"'
    assert ["Ana García"] == listed(api, f"/segments/{sid}/contacts")

    deleted = api.request("DELETE", f"/segments/{sid}", headers={"If-Match": '"2"'})
    assert deleted.status_code == 204
    gone = api.get(f"/segments/{sid}")
    assert gone.status_code == 410
    assert gone.json()["code"] == "segment_deleted"
    assert api.get(f"/segments/{sid}/contacts").status_code == 410
    again = api.patch(f"/segments/{sid}", json={"name": "x"}, headers={"If-Match": '"3"'})
    assert again.status_code == 410
    assert [] == api.get("/segments").json()["items"]
    assert api.get(f"/segments/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404
    events, entries = api.event_count()
    assert events == entries


def test_segment_definitions_are_checked(api: Api) -> None:
    """Unknown filters, wrong types and impossible combinations are refused (422),
    pointing at the filter; nothing is stored."""
    before = api.event_count()
    cases = [
        ({"colour": "red"}, "/definition/colour"),
        ({"tags": "vip"}, "/definition/tags"),
        ({"archived": "yes"}, "/definition/archived"),
        ({"kind": "robot"}, "/definition/kind"),
        ({"custom_fields": {"x": 1.5}}, None),
        ({"archived": True, "merged": True}, "/definition/merged"),
        (
            {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
            "/definition/created_before",
        ),
    ]
    for definition, pointer in cases:
        refused = save_segment(api, definition)
        assert refused.status_code == 422, (definition, refused.text)
        pointers = [e["pointer"] for e in refused.json()["errors"]]
        if pointer is not None:
            assert pointer in pointers, (definition, pointers)
    assert before == api.event_count()


def test_segments_list_pages_and_skips_deleted(api: Api) -> None:
    """GET /segments lists live segments oldest first, page by page."""
    ids = [save_segment(api, {"kind": "person"}, name=f"s{i}").json()["id"] for i in range(5)]
    removed = api.request("DELETE", f"/segments/{ids[1]}", headers={"If-Match": '"1"'})
    assert removed.status_code == 204
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = api.get("/segments", params=params).json()
        seen += [s["name"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ["s0", "s2", "s3", "s4"] == seen
    assert api.get("/segments", params={"cursor": "abc"}).status_code == 400


def test_segment_matches_the_same_query_on_the_list(api: Api) -> None:
    """A segment selects exactly what GET /contacts selects with the same filters."""
    made = seed(api)
    definition = {
        "kind": "person",
        "has_email": True,
        "created_after": made["Ana García"]["created_at"],
        "custom_fields": {"region": "south"},
    }
    sid = save_segment(api, definition).json()["id"]
    direct = listed(
        api,
        kind="person",
        has_email="true",
        created_after=made["Ana García"]["created_at"],
        **{"cf.region": "south"},
    )
    assert ["Álvaro Núñez"] == direct
    assert direct == listed(api, f"/segments/{sid}/contacts")
