"""Causeway: a self-hosted integration hub."""
