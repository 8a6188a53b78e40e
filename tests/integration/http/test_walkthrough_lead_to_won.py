"""docs/api-guide.md's "From lead to won deal" runs as written against ``crm-ledger serve``.

The bash block between the ``walkthrough:lead-to-won`` markers is run with ``set -euo
pipefail`` (as ``test_readme.py`` runs the README's walkthrough, on the same ``served``
fixture): every curl must succeed (``-f``), and every ``# => text`` line of the block must
be a line the commands printed, so the guide's answers cannot drift from the server's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.http.conftest import CLI

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "api-guide.md"
MARKER = "walkthrough:lead-to-won"
EXPECTED = re.compile(r"^# => (.*)$", re.M)


def marked_block(text: str, marker: str) -> str:
    """The bash block between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    name = re.escape(marker)
    match = re.search(
        rf"<!-- {name}:start -->\s*```bash\n(.*?)```\s*<!-- {name}:end -->", text, re.S
    )
    assert match is not None, f"lost its {marker} markers"
    return match.group(1)


def unprinted(script: str, printed: str) -> list[str]:
    """The ``# => ...`` lines of `script` that are not lines of `printed`."""
    lines = set(printed.splitlines())
    return [want for want in EXPECTED.findall(script) if want not in lines]


def run(
    script: str, base: str, env: dict[str, str], token: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        env={**env, "API": base, "KEY": token},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def key(served: tuple[str, dict[str, str]]) -> str:
    """A fresh API key for the served instance (as an operator would create one)."""
    _, env = served
    issued = subprocess.run(
        [CLI, "api-keys", "create", "--name", "lead-to-won"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("crm_")
    return token


def test_the_block_covers_the_whole_path() -> None:
    """The block does each step of the path, and states what it expects to see."""
    script = marked_block(GUIDE.read_text(), MARKER)
    for call in (
        'POST "$API/pipelines"',
        'POST "$API/leads"',
        'POST "$API/leads/$LEAD_ID/qualify"',
        'POST "$API/leads/$LEAD_ID/convert"',
        'POST "$API/deals/$DEAL_ID/move"',
        'PUT "$API/price-lists/$PRICE_LIST_ID/prices/$PRODUCT_ID"',
        'POST "$API/deals/$DEAL_ID/lines"',
        'POST "$API/deals/$DEAL_ID/win"',
        '"$API/deals?pipeline_id=$PIPELINE_ID&status=won"',
        '"$API/changes?types=deal"',
    ):
        assert call in script, call
    assert 'PATCH "$API/deals/$DEAL_ID"' not in script  # the amount comes from the line
    assert len(EXPECTED.findall(script)) >= 10


def test_lead_to_won_walkthrough_runs(served: tuple[str, dict[str, str]], key: str) -> None:
    """Every command succeeds and prints what the guide says it prints."""
    base, env = served
    script = marked_block(GUIDE.read_text(), MARKER)
    result = run(script, base, env, key)
    assert 0 == result.returncode, result.stderr
    out = result.stdout
    assert [] == unprinted(script, out), out
    assert '{"version":4,"status":"won","amount":"529.20","won":true}' in out.splitlines()
    lines = out.splitlines()
    at = lines.index("1 Created")
    assert ["1 Created", "2 Moved", "3 LineAdded", "4 Won"] == lines[at : at + 4]
    assert '[{"title":"Ruiz fleet tracking","amount":"529.20","status":"won"}]' == lines[-1]


def test_a_drifted_guide_fails(served: tuple[str, dict[str, str]], key: str) -> None:
    """A wrong If-Match stops the script (curl -f); a wrong expected answer is reported."""
    base, env = served
    script = marked_block(GUIDE.read_text(), MARKER)
    line = """POST "$API/deals/$DEAL_ID/lines" -H "$AUTH" -H "$JSON" -H 'If-Match: "2"'"""
    stale = script.replace(line, line.replace('"2"', '"1"'))
    assert stale != script
    result = run(stale, base, env, key)
    assert 0 != result.returncode
    assert "412" in result.stderr
    assert ["1 Won"] == unprinted("# => 1 Created\n# => 1 Won\n", "1 Created\n2 Won\n")
