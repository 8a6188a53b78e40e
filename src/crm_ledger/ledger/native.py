"""The ledger's optional C module (``_native.c``), or None when it is not there.

It holds the verifier's bulk checks and the writer's envelope sealing. It is built by
the install when a C compiler and OpenSSL's headers are present (``setup.py``). Without
it, with ``CRM_VERIFY_PYTHON_ONLY=1`` in the environment, or when the built module has
another interface version than this file (an install not rebuilt since ``_native.c``
changed), `NATIVE` is None and all of that work is done in Python, with the same
results. The C checks only ever confirm a batch the Python checks would also find clean
(see ``_native.c``); every finding comes from the Python path. The C sealing writes the
same bytes as the Python path (a property test compares them) or declines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

#: the ``INTERFACE`` of the ``_native.c`` this module's declarations describe
INTERFACE = 3
#: ``(leaf hashes, first seq, last seq, last recorded_at, origin, last leaf hash hex,
#: positions of the lines whose topic is watched)``
CheckedLines = tuple[tuple[bytes, ...], int, int, str, str, str, tuple[int, ...]]
#: ``(leaf hashes, last seq, last recorded_at, origin, last leaf hash hex)``
CheckedColumns = tuple[tuple[bytes, ...], int, str, str, str]


class NativeChecks(Protocol):
    """What ``crm_ledger.ledger._native`` provides (its only type declaration)."""

    def check_lines(
        self,
        data: bytes,
        expected_index: object,
        prev_hex: object,
        last_seq: object,
        last_time: object,
        origin: object,
        watch: tuple[bytes, ...],
        /,
    ) -> CheckedLines | None:
        """Bundle lines after a tip, when every line is clean in the common form."""

    def check_columns(
        self,
        columns: tuple[tuple[Any, ...], ...],
        expected_index: object,
        prev_hex: object,
        last_seq: object,
        last_time: object,
        origin: object,
        /,
    ) -> CheckedColumns | None:
        """A batch's eight columns after a tip, when every entry is clean and its
        envelope canonical printable ASCII."""

    def node_hashes(self, level: Sequence[bytes], /) -> list[bytes]:
        """The RFC 6962 interior nodes over consecutive pairs of `level`."""

    def seal_links(
        self, log: object, recorded_at: object, prev: bytes | None, links: list[Any], /
    ) -> list[tuple[bytes, bytes]] | None:
        """``(canonical bytes, leaf hash)`` of each link's envelope, chained from `prev`,
        when every member is plain (see ``_native.c``); else None."""


def _load() -> NativeChecks | None:
    if os.environ.get("CRM_VERIFY_PYTHON_ONLY", "") not in ("", "0"):
        return None
    try:
        from crm_ledger.ledger import _native  # type: ignore[attr-defined]  # C, no stub
    except ImportError:
        return None
    if getattr(_native, "INTERFACE", None) != INTERFACE:  # built from another version
        return None
    checks: NativeChecks = _native
    return checks


NATIVE = _load()
