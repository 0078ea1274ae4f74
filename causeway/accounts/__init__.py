"""People: users, their passwords, sessions and personal API tokens."""
