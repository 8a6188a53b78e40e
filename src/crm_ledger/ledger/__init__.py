"""crm_ledger."""
