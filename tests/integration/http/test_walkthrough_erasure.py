"""docs/api-guide.md's erasure example runs as written against ``crm-ledger serve``
(as ``test_walkthrough_lead_to_won`` runs its walkthrough: every curl must succeed and
every ``# => text`` line must be a line the commands printed)."""

from __future__ import annotations

from tests.integration.http.test_walkthrough_lead_to_won import (
    EXPECTED,
    GUIDE,
    key,
    marked_block,
    run,
    unprinted,
)

__all__ = ["key"]  # the fixture, used by name
MARKER = "walkthrough:erasure"


def test_the_erasure_example_runs(served: tuple[str, dict[str, str]], key: str) -> None:
    base, env = served
    script = marked_block(GUIDE.read_text(), MARKER)
    assert 'POST "$API/contacts/$CONTACT/erasure"' in script
    assert len(EXPECTED.findall(script)) == 3
    result = run(script, base, env, key)
    assert 0 == result.returncode, result.stderr
    assert [] == unprinted(script, result.stdout), result.stdout
