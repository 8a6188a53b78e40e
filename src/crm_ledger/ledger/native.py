"""The verifier's optional C checks (``_native.c``), or None when they are not there.

They are built by the install when a C compiler and OpenSSL's headers are present
(``setup.py``). Without them, with ``CRM_VERIFY_PYTHON_ONLY=1`` in the environment, or
when the built module has another interface version than this file (an install not
rebuilt since ``_native.c`` changed), `NATIVE` is None and the verifier does all of its
work in Python, with the same report. The C code only ever confirms a batch the Python
checks would also find clean (see ``_native.c``); every finding comes from the Python
path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

#: the ``INTERFACE`` of the ``_native.c`` this module's declarations describe
INTERFACE = 2
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
