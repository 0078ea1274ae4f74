"""Typed personas: the people (and the service account) tests act as, built by one function.

`cast()` makes a workspace ("Acme") with the personas asked for and, when an outsider is asked for,
another workspace ("Other") that the outsider administers. Every persona builder in the tests starts
from it, so an Admin is made the same way everywhere.

| persona   | who                                                                      |
| --------- | ------------------------------------------------------------------------ |
| Admin     | member of the workspace with the Admin system role                        |
| Analyst   | member with the Analyst system role                                       |
| Operator  | member with the Operator system role                                      |
| Builder   | member with a custom role (recipe building), over chosen projects or all  |
| Outsider  | Admin of another workspace, not a member of this one                      |
| Staff     | platform administrator, member of no workspace                            |
| Robot     | service account of the workspace, with an API token                       |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from testkit import STRONG_PASSWORD
from testkit.factories import (
    MembershipFactory,
    RoleFactory,
    ServiceAccountFactory,
    ServiceAccountTokenFactory,
    UserFactory,
    WorkspaceFactory,
    system_role,
)

# What a Builder's custom role holds unless told otherwise: build, run and test recipes, read their jobs.
BUILDER_PERMS = (
    "project:view",
    "folder:view",
    "recipe:view",
    "recipe:edit",
    "recipe:run",
    "recipe:test",
    "job:view",
)
KINDS = ("admin", "analyst", "operator", "builder", "outsider", "staff", "robot")
DEFAULT_KINDS = ("admin", "analyst", "operator", "outsider", "staff")


@dataclass(frozen=True)
class Member:
    user: Any
    workspace: Any
    membership: Any

    @property
    def email(self) -> str:
        return str(self.user.email)


@dataclass(frozen=True)
class Admin(Member):
    pass


@dataclass(frozen=True)
class Analyst(Member):
    pass


@dataclass(frozen=True)
class Operator(Member):
    pass


@dataclass(frozen=True)
class Builder(Member):
    role: Any


@dataclass(frozen=True)
class Outsider(Member):
    """The Admin of another workspace: `workspace` is theirs, not the one the others share."""


@dataclass(frozen=True)
class Staff:
    user: Any

    @property
    def email(self) -> str:
        return str(self.user.email)


@dataclass(frozen=True)
class Robot:
    account: Any
    workspace: Any
    token: Any
    secret: str


@dataclass
class Cast:
    """The personas of one `cast()`; a persona not asked for is None."""

    workspace: Any
    other: Any = None
    admin: Admin | None = None
    analyst: Analyst | None = None
    operator: Operator | None = None
    builder: Builder | None = None
    outsider: Outsider | None = None
    staff: Staff | None = None
    robot: Robot | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def people(self, workspace_key: str = "acme", other_key: str = "other") -> dict[str, Any]:
        """The users by persona name and the workspaces by `workspace_key` and `other_key`."""
        found: dict[str, Any] = {}
        for kind in ("admin", "analyst", "operator", "builder", "outsider", "staff"):
            persona = getattr(self, kind)
            if persona is not None:
                found[kind] = persona.user
        found[workspace_key] = self.workspace
        if self.other is not None:
            found[other_key] = self.other
        return found


def member(workspace: Any, user: Any, role: Any) -> Any:
    """A membership with `role`: a Role, or a system role's key."""
    return MembershipFactory.create(
        workspace=workspace, user=user, role=system_role(role) if isinstance(role, str) else role
    )


def cast(
    *kinds: str,
    domain: str = "example.com",
    workspace: str = "Acme",
    other: str = "Other",
    emails: Mapping[str, str] | None = None,
    names: Mapping[str, tuple[str, str]] | None = None,
    builder_projects: Sequence[Any] | None = None,
    builder_perms: Iterable[str] = BUILDER_PERMS,
    builder_role: str = "Scoped builder",
    password: str | None = STRONG_PASSWORD,
) -> Cast:
    """A workspace and the personas named in `kinds` (by default Admin, Analyst, Operator, outsider, staff).

    Each person's email is `<kind>@<domain>` unless `emails` names another; `names` gives a
    (first, last) pair. With `password=None` they have none (tests that sign in with `force_login` skip
    the hashing). Only what is asked for is written: a test that needs an Admin alone makes one
    user, one workspace and one membership.
    """
    wanted = kinds or DEFAULT_KINDS
    unknown = set(wanted) - set(KINDS)
    if unknown:
        raise ValueError(f"no persona named {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    emails = emails or {}
    names = names or {}

    users = {}
    for kind in KINDS:
        if kind in wanted and kind != "robot":
            first, last = names.get(kind, ("Ada", "Lovelace"))
            users[kind] = UserFactory.create(
                email=emails.get(kind, f"{kind}@{domain}"),
                first_name=first,
                last_name=last,
                staff=kind == "staff",
                password=password,
            )

    home = WorkspaceFactory.create(name=workspace)
    result = Cast(workspace=home)
    for kind, persona in (("admin", Admin), ("analyst", Analyst), ("operator", Operator)):
        if kind in users:
            setattr(result, kind, persona(users[kind], home, member(home, users[kind], kind)))
    if "outsider" in users:
        result.other = WorkspaceFactory.create(name=other)
        result.outsider = Outsider(
            users["outsider"], result.other, member(result.other, users["outsider"], "admin")
        )
    if "builder" in users:
        result.builder = builder(
            home, users["builder"], projects=builder_projects, perms=builder_perms, role_name=builder_role
        )
    if "staff" in users:
        result.staff = Staff(users["staff"])
    if "robot" in wanted:
        result.robot = robot(home)
    return result


def builder(
    workspace: Any,
    user: Any,
    *,
    projects: Sequence[Any] | None = None,
    perms: Iterable[str] = BUILDER_PERMS,
    role_name: str = "Scoped builder",
) -> Builder:
    """A member whose custom role holds `perms` over `projects` (every project when None)."""
    role = RoleFactory.create(workspace=workspace, name=role_name, permissions=list(perms), projects=projects)
    return Builder(user, workspace, member(workspace, user, role), role)


def robot(workspace: Any, *, name: str = "robot", token_name: str = "ci", expires_in_days: int = 30) -> Robot:
    """A service account of the workspace with one token; grants are the test's to give."""
    account = ServiceAccountFactory.create(workspace=workspace, name=name)
    token = ServiceAccountTokenFactory.create(
        service_account=account, name=token_name, expires_in_days=expires_in_days
    )
    return Robot(account, workspace, token, token.secret)
