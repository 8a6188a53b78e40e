"""Export bundles: everything an auditor needs to verify the log on another machine.

A bundle is a directory::

    bundle.json        format, origin, counts, SHA-256 of every other file
    entries.jsonl      one line per ledger entry with its event's stored bytes
    checkpoints.jsonl  one line per signed checkpoint
    keys.json          the public key manifest
    README.md          how to verify it

Each ``entries.jsonl`` line is a JSON object: ``leaf_index``, ``seq``, ``envelope`` (the
canonical envelope as a JSON string; its UTF-8 bytes are exactly what is hashed),
``leaf_hash`` (hex), ``originator_id``, ``originator_version``, ``topic`` and ``state``
(base64 of the stored event bytes).
Reading is streaming, line by line (`read_entries`) or a block of lines at a time
(`read_batches`, columns for the verifier's bulk checks); a line that does not parse is
handed to the verifier as a malformed entry at its position, never skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from binascii import a2b_base64
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from crm_ledger.ledger.entry_batch import Columns, EntryBatch, only
from crm_ledger.ledger.envelope import Entry, format_timestamp
from crm_ledger.storage.ledger_store import CheckpointRow, LedgerStore

FORMAT = "crm-ledger-bundle/1"
ENTRIES, CHECKPOINTS, KEYS, INDEX = "entries.jsonl", "checkpoints.jsonl", "keys.json", "bundle.json"

AUDITOR_README = """# crm_ledger export bundle

This directory is a self-contained copy of a crm_ledger log for offline verification.

    crm-ledger verify THIS_DIRECTORY --keys keys.json [--anchors ANCHOR_FILE] [--state STATE]

Trust nothing in this directory except what you can check: the verifier recomputes every
event hash, envelope, leaf hash and chain link, recomputes the Merkle root at every
checkpoint and checks the checkpoint signatures against a public key manifest. Prefer a
manifest you obtained independently (``--keys``) over the copy in this bundle, and give
it the anchor file and your own saved state from the last verification: they are what
expose truncation and a rewrite by the key holder. See docs/auditor-guide.md and
docs/ledger-format.md of crm_ledger for the exact format and exit codes.

People's personal data (names, emails, phones, addresses, tax ids, custom fields, notes,
and the free text of activities and service cases) is sealed inside the events
(``_sealed_``: AES-256-GCM, one key per event, kept by the company and never exported):
verification needs no key, and the hashes cover the ciphertext, so erasing a person
(destroying their keys) changes no byte of this log.
"""


class BundleError(Exception):
    """The bundle is not readable as a bundle at all (missing file, bad index)."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_line(entry: Entry) -> bytes:
    """One ``entries.jsonl`` line."""
    return (
        orjson.dumps(
            {
                "leaf_index": entry.leaf_index,
                "seq": entry.seq,
                "envelope": entry.canonical.decode("utf-8"),
                "leaf_hash": entry.leaf_hash.hex(),
                "originator_id": entry.originator_id,
                "originator_version": entry.originator_version,
                "topic": entry.topic,
                "state": base64.b64encode(entry.state).decode(),
            }
        )
        + b"\n"
    )


def checkpoint_line(row: CheckpointRow) -> bytes:
    """One ``checkpoints.jsonl`` line."""
    return (
        orjson.dumps(
            {
                "size": row.size,
                "root_hash": row.root_hash.hex(),
                "note": row.note,
                "created_at": row.created_at,
            }
        )
        + b"\n"
    )


def export_bundle(
    store: LedgerStore,
    origin: str,
    manifest: bytes,
    out: Path,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write a bundle of the whole log to `out` (created; must be empty or absent)."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise BundleError(f"{out} is not empty")
    count = 0
    with open(out / ENTRIES, "wb") as handle:
        for entry in store.entries():
            handle.write(entry_line(entry))
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(count)
    checkpoints = 0
    with open(out / CHECKPOINTS, "wb") as handle:
        after = -1
        while True:
            with store.db.transaction(write=False) as tx:
                rows = store.checkpoints(tx, after_size=after, limit=1000)
            if not rows:
                break
            for row in rows:
                handle.write(checkpoint_line(row))
            checkpoints += len(rows)
            after = rows[-1].size
    (out / KEYS).write_bytes(manifest)
    (out / "README.md").write_text(AUDITOR_README)
    index = {
        "format": FORMAT,
        "origin": origin,
        "entries": count,
        "checkpoints": checkpoints,
        "exported_at": format_timestamp(datetime.now(UTC)),
        "files": {name: _sha256_file(out / name) for name in (ENTRIES, CHECKPOINTS, KEYS)},
    }
    (out / INDEX).write_bytes(orjson.dumps(index, option=orjson.OPT_INDENT_2) + b"\n")
    if progress is not None:
        progress(count)
    return index


def read_index(bundle: Path) -> dict[str, Any]:
    """The bundle's ``bundle.json``."""
    try:
        index = orjson.loads((bundle / INDEX).read_bytes())
    except FileNotFoundError:
        raise BundleError(f"{bundle}: no {INDEX}; is this an export bundle?") from None
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"{bundle / INDEX}: not valid JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise BundleError(f"{bundle / INDEX}: not a {FORMAT} index")
    return index


def read_entries(path: Path) -> Iterator[Entry]:
    """Stream the entries of ``entries.jsonl``; unreadable lines become malformed entries."""
    expected = 0
    with open(path, "rb") as handle:
        for raw in handle:
            entry = _entry(raw, expected)
            expected = entry.leaf_index + 1
            yield entry


def _entry(raw: bytes, expected: int) -> Entry:
    """One line as an entry; an unreadable line is a malformed entry at `expected`."""
    entry = _readable(raw)
    return Entry(expected, -1, raw, b"", "", -1, "", b"") if entry is None else entry


def _readable(raw: bytes) -> Entry | None:
    """One line as an entry, or None when it does not read as one."""
    try:
        if not raw.endswith(b"\n"):
            raise ValueError("truncated line (no newline)")
        item = orjson.loads(raw)
        return Entry(
            int(item["leaf_index"]),
            int(item["seq"]),
            item["envelope"].encode("utf-8"),
            bytes.fromhex(item["leaf_hash"]),
            str(item["originator_id"]),
            int(item["originator_version"]),
            str(item["topic"]),
            a2b_base64(item["state"], strict_mode=True),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return None


#: bytes read at a time by `read_batches` (whole lines; a longer line is read whole)
BLOCK_SIZE = 1 << 16

_LINE_FIELDS = itemgetter(
    "leaf_index",
    "seq",
    "envelope",
    "leaf_hash",
    "originator_id",
    "originator_version",
    "topic",
    "state",
)
_FIRST = itemgetter(0)
_BASE64 = partial(a2b_base64, strict_mode=True)


def read_batches(path: Path, block_size: int = BLOCK_SIZE) -> Iterator[EntryBatch]:
    """Stream ``entries.jsonl`` as batches of whole lines (about `block_size` bytes each).

    A batch keeps its lines (`EntryBatch.lines`) and reads them as `Columns` only when
    asked: columns when every line of it reads cleanly, with exactly the values
    `read_entries` gives; its `EntryBatch.entries` are always those of `read_entries`.
    """
    expected = 0
    carry = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(block_size):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                carry += chunk
                continue
            # one copy of the block (slicing a bytes object copies it)
            data = b"".join((carry, memoryview(chunk)[:cut])) if carry else chunk[:cut]
            carry = chunk[cut:]
            batch = _batch(data, expected)
            # the next batch's first line is at the index after this batch's last line
            last = _readable(data[data.rfind(b"\n", 0, -1) + 1 :])
            expected = (batch.entries()[-1] if last is None else last).leaf_index + 1
            yield batch
    if carry:  # a last line without its newline
        yield EntryBatch(None, lambda: [_entry(carry, expected)])


def entries_at(data: bytes, positions: Sequence[int]) -> list[Entry]:
    """The entries of the lines at `positions` of newline-terminated `data`, each read
    as `read_entries` reads it (lines that do not read come back malformed, at -1)."""
    if not positions:
        return []
    lines = data.split(b"\n")
    return [_entry(lines[position] + b"\n", -1) for position in positions]


def _batch(data: bytes, expected: int) -> EntryBatch:
    """Newline-terminated lines as a batch (`expected`: the first line's leaf index if
    it is unreadable)."""
    return EntryBatch(partial(_columns, data), partial(_lines, data, expected), lines=data)


def _lines(data: bytes, expected: int) -> list[Entry]:
    """Newline-terminated lines read one by one, as `read_entries` reads them."""
    entries: list[Entry] = []
    for line in data.split(b"\n")[:-1]:
        entry = _entry(line + b"\n", expected)
        expected = entry.leaf_index + 1
        entries.append(entry)
    return entries


def _columns(data: bytes) -> Columns | None:
    """The columns of newline-terminated lines that all read cleanly, else None.

    All lines are parsed at once as ``[[line1\\n],[line2\\n],...]``: a JSON string
    cannot hold a raw newline, so the inserted brackets lie outside strings; when the
    parse gives one list per line holding one object of exactly the eight members, all
    strings or integers (no nested brackets), those brackets are all there are and each
    line alone parses to its object, as `read_entries` parses it.
    """
    try:
        joined = bytearray(b"[[")
        joined += data.replace(b"\n", b"\n],[")
        lines = (len(joined) - 2 - len(data)) // 3
        joined[-2:] = b"]"  # [[line1\n],[line2\n],[ -> [[line1\n],[line2\n]]
        wrapped = orjson.loads(joined)
        # a wrapper that is not a one-element list, or an item that is not an object of
        # eight members, fails one of these checks or raises TypeError / KeyError
        if len(wrapped) != lines or set(map(len, wrapped)) != {1}:
            return None
        items = list(map(_FIRST, wrapped))
        if set(map(len, items)) != {8}:
            return None
        index, seq, envelope, leaf, originator, version, topic, state = zip(
            *map(_LINE_FIELDS, items), strict=True
        )
        if not (
            only(int, index)
            and only(int, seq)
            and only(int, version)
            and only(str, originator)
            and only(str, topic)
        ):
            return None
        # these raise TypeError unless every envelope, leaf hash and state is a string
        return Columns(
            index,
            seq,
            tuple(map(str.encode, envelope)),
            tuple(map(bytes.fromhex, leaf)),
            originator,
            version,
            topic,
            tuple(map(_BASE64, state)),
        )
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, binascii.Error):
        return None


def read_checkpoints(path: Path) -> Iterator[CheckpointRow]:
    """Stream ``checkpoints.jsonl``; BundleError on a line that does not parse."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                item = orjson.loads(raw)
                yield CheckpointRow(
                    int(item["size"]),
                    bytes.fromhex(item["root_hash"]),
                    str(item["note"]),
                    str(item["created_at"]),
                )
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                raise BundleError(f"{path}:{number}: unreadable checkpoint ({exc})") from None
