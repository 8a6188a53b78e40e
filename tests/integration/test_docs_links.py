"""The documentation's links resolve and the ``crm-ledger`` commands it names exist.

Checked in README.md and docs/*.md, outside fenced code blocks for links:

* every relative link points to an existing file (the ``#fragment`` is stripped for that);
* a link with a fragment (``other.md#section`` or ``#section``) names a heading of the
  target Markdown file (GitHub's heading slugs);
* every ``crm-ledger <command> [<subcommand>]`` written anywhere (prose or code) is a
  command of ``crm_ledger.cli:main``: its ``--help`` answers 0 with its own usage line.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crm_ledger.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!\\)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, tag:, ...
_COMMAND = re.compile(r"(?<![\w./-])crm-ledger[ \t]+([a-z][a-z0-9-]*)(?:[ \t]+([a-z][a-z0-9-]*))?")


def prose(text: str) -> str:
    """`text` without fenced code blocks and inline code spans."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Link targets of `path` that are neither absolute URLs nor e-mail addresses."""
    targets = _LINK.findall(prose(path.read_text()))
    return [t for t in targets if not _EXTERNAL.match(t) and not t.startswith("//")]


def broken_links(path: Path) -> list[str]:
    """A sentence for each relative link of `path` that does not resolve."""
    problems = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path.name}: {target} -> {resolved} does not exist")
            continue
        if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{path.name}: {target} -> no heading #{fragment} in {resolved.name}")
    return problems


def named_commands(text: str) -> set[tuple[str, ...]]:
    """Every ``crm-ledger COMMAND`` / ``crm-ledger GROUP SUBCOMMAND`` named in `text`."""
    named: set[tuple[str, ...]] = set()
    for first, second in _COMMAND.findall(text):
        command = main.commands.get(first)
        if isinstance(command, click.Group) and second:
            named.add((first, second))
        else:  # a plain command's next word is an argument (e.g. a bundle path)
            named.add((first,))
    return named


def test_docs_are_found() -> None:
    """The documents this test reads exist (so the other tests cannot pass on nothing)."""
    names = {p.name for p in DOCS}
    assert {"README.md", "api-guide.md", "operations.md", "auditor-guide.md"} <= names
    assert {"ledger-format.md", "architecture.md", "glossary.md", "merkle.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link of the document names an existing file (and heading)."""
    assert [] == broken_links(path)


def test_readme_links_to_every_guide() -> None:
    """README.md links to the guides for API users, operators and auditors."""
    links = {t.partition("#")[0] for t in relative_links(ROOT / "README.md")}
    for guide in ("api-guide", "operations", "auditor-guide", "ledger-format"):
        assert f"docs/{guide}.md" in links


def test_named_commands_exist() -> None:
    """Every crm-ledger (sub)command the docs name answers --help with its usage line."""
    named: set[tuple[str, ...]] = set()
    for path in DOCS:
        named |= named_commands(path.read_text())
    assert {("serve",), ("verify",), ("export",), ("api-keys", "create")} <= named
    runner = CliRunner()
    for words in sorted(named):
        result = runner.invoke(main, [*words, "--help"], prog_name="crm-ledger")
        assert 0 == result.exit_code, f"crm-ledger {' '.join(words)}: {result.output}"
        assert f"Usage: crm-ledger {' '.join(words)} " in result.output


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A broken file link, a wrong heading and an unknown command are all caught."""
    (tmp_path / "there.md").write_text("# Real heading\n\n```\n# not a heading\n```\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](there.md) [ok](there.md#real-heading) [gone](missing.md) "
        "[bad](there.md#not-a-heading) [self](#nowhere) [web](https://example.com/x.md)\n"
        "`[code](missing-in-code.md)`\n"
    )
    problems = broken_links(doc)
    assert 3 == len(problems), problems
    assert "missing.md" in problems[0]
    assert "#not-a-heading" in problems[1]
    assert "#nowhere" in problems[2]
    named = named_commands("run `crm-ledger frobnicate` or crm-ledger keys explode x")
    assert {("frobnicate",), ("keys", "explode")} == named
    runner = CliRunner()
    for words in named:
        assert 0 != runner.invoke(main, [*words, "--help"], prog_name="crm-ledger").exit_code
