"""Tenants: workspaces, their members, invitations and session policy."""
