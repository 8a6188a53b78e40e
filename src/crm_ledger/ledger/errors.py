"""Errors raised by the pure ledger functions.

Hierarchy::

    LedgerError
    ├── CanonicalizationError   a value RFC 8785 (JCS) cannot encode
    ├── EnvelopeError           an envelope that is not of the v1 shape
    ├── ProofError              a malformed or non-verifying Merkle proof
    ├── NoteError               a malformed or unverifiable signed note
    └── ManifestError           a malformed public key manifest

Verification of a whole log does not raise for tampering: it returns findings
(see ``crm_ledger.ledger.verify``). These errors are for malformed input.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by ``crm_ledger.ledger``."""


class CanonicalizationError(LedgerError, ValueError):
    """The value cannot be encoded by RFC 8785 (float, NaN, lone surrogate, ...)."""


class EnvelopeError(LedgerError, ValueError):
    """The envelope is not a well-formed v1 envelope."""


class ProofError(LedgerError, ValueError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class NoteError(LedgerError, ValueError):
    """A signed note is malformed, or its signature does not verify."""


class ManifestError(LedgerError, ValueError):
    """A public key manifest is malformed."""
