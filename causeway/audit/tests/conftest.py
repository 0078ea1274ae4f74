"""Each audit test writes checkpoints to its own file, so no test's checkpoints judge another's chain."""

from __future__ import annotations

from causeway.audit.tests.fixtures import checkpoint_file

__all__ = ["checkpoint_file"]
