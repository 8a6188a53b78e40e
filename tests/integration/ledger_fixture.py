"""A real, populated, checkpointed, anchored log on SQLite or PostgreSQL, and tools to
tamper with its stored bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from crm_ledger.application import CrmApplication
from crm_ledger.ledger.envelope import seal
from crm_ledger.ledger.note import checkpoint_body, sign_note
from crm_ledger.ledger.verify import Report
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.sql import Tx
from crm_ledger.verification import run_verification


def verification(url: str, data: Path) -> tuple[Report, str]:
    """``crm-ledger verify --database URL --json`` of the log at `url`, with the keys and
    anchors of its data directory `data`: the report and its JSON."""
    return run_verification(
        bundle=None,
        database=url,
        keys_path=None,
        anchors=str(data / "anchors"),
        state_path=None,
        data_dir=str(data),
        as_json=True,
        progress=None,
    )


def verify_database(url: str, data: Path) -> tuple[int, dict[str, Any]]:
    """`verification`'s exit code and its JSON report, parsed."""
    report, text = verification(url, data)
    return report.exit_code, orjson.loads(text)


@dataclass
class Log:
    """A log of `size` entries with checkpoints at 10, 20 and `size`."""

    crm: CrmApplication
    settings: Settings
    keystore: KeyStore
    size: int

    @property
    def events_table(self) -> str:
        return str(self.crm.recorder.events_table_name)  # type: ignore[attr-defined]

    @property
    def seq_column(self) -> str:
        return "rowid" if self.crm.db.dialect == "sqlite" else "notification_id"

    @property
    def anchors(self) -> Path:
        return self.settings.data_dir / "anchors"

    def verify(self, *, anchors: bool = True, state: Path | None = None) -> Report:
        report, _ = run_verification(
            bundle=None,
            database=self.settings.database_url,
            keys_path=None,
            anchors=str(self.anchors) if anchors else None,
            state_path=None if state is None else str(state),
            data_dir=str(self.settings.data_dir),
            as_json=False,
            progress=None,
        )
        return report

    @property
    def rebuilt(self) -> bool:
        """SQLite keeps the ledger in the event rows and rebuilds envelopes on reading
        (crm_ledger.storage.sqlite_ledger): a changed column shows as a leaf mismatch,
        where PostgreSQL's stored envelope names the member that differs."""
        return self.crm.db.dialect == "sqlite"

    def seqs(self) -> list[int]:
        with self.crm.db.transaction(write=False) as tx:
            return [int(r[0]) for r in tx.all("SELECT seq FROM ledger_entries ORDER BY leaf_index")]

    def run(self, sql: str, params: tuple[object, ...] = ()) -> None:
        with self.crm.db.transaction() as tx:
            tx.execute(sql, params)

    def delete_entry(self, leaf_index: int) -> None:
        """Delete the event at `leaf_index` and its ledger entry."""
        seq = self.seqs()[leaf_index]
        self.run(f"DELETE FROM {self.events_table} WHERE {self.seq_column} = ?", (seq,))
        if not self.rebuilt:  # on SQLite the entry went with its row
            self.run("DELETE FROM ledger_entries WHERE leaf_index = ?", (leaf_index,))

    def flip_state_byte(self, seq: int) -> None:
        """Change one byte of the stored event bytes at `seq`."""
        with self.crm.db.transaction() as tx:
            state = bytes(
                tx.scalar(
                    f"SELECT state FROM {self.events_table} WHERE {self.seq_column} = ?", (seq,)
                )
            )
            tampered = state[:5] + bytes([state[5] ^ 0x01]) + state[6:]
            tx.execute(
                f"UPDATE {self.events_table} SET state = ? WHERE {self.seq_column} = ?",
                (tampered, seq),
            )

    def flip_actor_byte(self, leaf_index: int) -> None:
        """Change one byte of the stored actor ("system:" becomes "systen:"): inside the
        stored envelope (PostgreSQL) or in the event row's actor column (SQLite)."""
        with self.crm.db.transaction() as tx:
            if self.rebuilt:
                seq = leaf_index + 1
                actor = str(
                    tx.scalar(f"SELECT actor FROM {self.events_table} WHERE rowid = ?", (seq,))
                )
                assert actor.startswith("system:")
                tx.execute(
                    f"UPDATE {self.events_table} SET actor = ? WHERE rowid = ?",
                    ("systen:" + actor[len("system:") :], seq),
                )
                return
            envelope = bytes(
                tx.scalar("SELECT envelope FROM ledger_entries WHERE leaf_index = ?", (leaf_index,))
            )
            old, new = b'"actor":"system:', b'"actor":"systen:'
            assert old in envelope
            tx.execute(
                "UPDATE ledger_entries SET envelope = ? WHERE leaf_index = ?",
                (envelope.replace(old, new, 1), leaf_index),
            )

    def rechain_from(self, tx: Tx, start: int, *, change_state_at: int | None = None) -> None:
        """Recompute every envelope and leaf from `start`, as a forger without the key would."""
        entries = list(self.crm.ledger_store().entries(start=start))
        prev = tx.scalar("SELECT leaf_hash FROM ledger_entries WHERE leaf_index = ?", (start - 1,))
        for entry in entries:
            envelope = orjson.loads(entry.canonical)
            if entry.leaf_index == change_state_at:
                # the kind is stored in clear (the name is sealed, see crm_ledger.privacy)
                forged = entry.state.replace(b'"kind":"person"', b'"kind":"organisation"', 1)
                assert forged != entry.state
                tx.execute(
                    f"UPDATE {self.events_table} SET state = ? WHERE {self.seq_column} = ?",
                    (forged, entry.seq),
                )
                envelope["state_sha256"] = hashlib.sha256(forged).hexdigest()
            envelope["prev"] = bytes(prev).hex()
            canonical, leaf = seal(envelope)
            if self.rebuilt:
                tx.execute(
                    f"UPDATE {self.events_table} SET leaf_hash = ? WHERE rowid = ?",
                    (leaf, entry.seq),
                )
            else:
                tx.execute(
                    "UPDATE ledger_entries SET envelope = ?, leaf_hash = ? WHERE leaf_index = ?",
                    (canonical, leaf, entry.leaf_index),
                )
            prev = leaf

    def resign_checkpoints(self, tx: Tx, *, with_key: bool) -> None:
        """Recompute checkpoint roots; re-sign them (key holder) or only edit the text."""
        store = self.crm.ledger_store()
        from crm_ledger.ledger.merkle import MerkleTree

        tree = MerkleTree(
            bytes(r[0]) for r in tx.all("SELECT leaf_hash FROM ledger_entries ORDER BY leaf_index")
        )
        for row in store.checkpoints(tx):
            root = tree.root(row.size)
            if with_key:
                signers = [(s.name, s.private_key) for s in self.keystore.signers()]
                note = sign_note(checkpoint_body(self.crm.origin, row.size, root), signers)
            else:
                body = checkpoint_body(self.crm.origin, row.size, root)
                note = body + row.note[row.note.index("\n\n") + 1 :]
            tx.execute(
                "UPDATE ledger_checkpoints SET root_hash = ?, note = ? WHERE size = ?",
                (root, note, row.size),
            )


def build_log(settings: Settings, contacts: int = 15) -> Log:
    """Register `contacts` contacts and update each; checkpoints at 10, 20 and the end."""
    crm = CrmApplication(settings)
    keystore = KeyStore(settings.data_dir / "keys")
    keystore.ensure_key()
    writer = CheckpointWriter(
        crm.ledger_store(), keystore, crm.origin, settings.data_dir / "anchors"
    )
    count = 0
    for i in range(contacts):
        written = crm.register_contact(
            actor="system:tests", kind="person", name=f"Person {i}", emails=[f"p{i}@example.com"]
        )
        crm.update_contact(
            written.aggregate.id, expected_version=1, actor="system:tests", changes={"tags": ["t"]}
        )
        count += 2
        if count in (10, 20):
            writer.cut(force=True)
    writer.cut(force=True)
    return Log(crm, settings, keystore, count)
