"""The audit trail: an append-only, MAC-chained record of every security-relevant fact."""
