"""Operator commands: `causeway web|worker|beat|up|init|check|audit ...`."""
