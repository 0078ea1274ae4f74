"""The two refusals: NotFound where existence would leak (rule 9), Forbidden naming what is missing."""

from __future__ import annotations

from typing import Any


class NotFound(Exception):
    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(Exception):
    def __init__(self, perm: str, *, workspace: Any = None, actor: Any = None, detail: str = "") -> None:
        super().__init__(detail or f"you do not have the permission {perm}")
        self.perm = perm
        self.workspace = workspace
        self.actor = actor
