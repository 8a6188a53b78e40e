"""crm_ledger."""

__version__ = "0.1.0"
