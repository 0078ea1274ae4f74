"""The people and things every access test meets: one workspace with each kind of actor, and another.

`acme` holds: an Admin, an Analyst, an Operator, a member whose custom role covers project P1 only
(`custom`), a member whose only access is a group's read grant on recipe R1 (`group_only`), a service
account with an execute grant on R1 (`robot`); outside it, a staff user who is not a member and the
Admin of another workspace (`other_admin`). Each human has an API token; the robot has one too.

The content every endpoint is called on: projects P1 (R1 in it, two versions; an empty folder F1; a
lookup table T1 with the row `k1`) and P2 (R2), both DEV; an empty project P3 (deletable); a PROD
project P4 with R4, where rule 5's default ceiling lets people read and debug only. The Analyst keeps
a bookmark on R1. Failed jobs of R1: one the Analyst ran (`job`), one the Operator ran
(`operator_job`), one the robot ran (`robot_job`), one the schedule fired (`trigger_job`, run by no
one); a failed job of R2 the Operator ran (`r2_job`). The custom role holds no `recipe:debug`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causeway.recipes import grants
from testkit.factories import (
    MANUAL,
    ApiTokenFactory,
    FolderFactory,
    JobFactory,
    LookupTableFactory,
    ProjectFactory,
    RecipeFactory,
    RecipeVersionFactory,
    RoleFactory,
    UserFactory,
    system_actor,
)
from testkit.personas import BUILDER_PERMS, builder, cast, member
from testkit.personas import robot as service_account

MANUAL_V2 = {"trigger": {"type": "manual"}, "steps": [{"id": "s1", "type": "map", "fields": {"a": "2"}}]}
SCOPED_PERMS = list(BUILDER_PERMS)
# The people, in the order the matrix's columns name them.
PEOPLE = ("admin", "analyst", "operator", "custom", "group_only", "staff", "other_admin")
ACTORS = ("anon", "admin", "analyst", "operator", "custom", "group_only", "robot", "staff", "other_admin")


@dataclass
class World:
    ws: Any
    other: Any
    people: dict[str, Any]
    tokens: dict[str, str]
    p1: Any
    p2: Any
    r1: Any
    r2: Any
    other_recipe: Any
    custom_role: Any
    nothing_role: Any
    group: Any
    group_member: Any
    group_grant: Any
    robot: Any
    robot_token: Any
    operator_membership: Any
    invitation: Any
    platform_invitation: Any
    p3: Any = None
    f1: Any = None
    t1: Any = None
    bookmark: Any = None
    job: Any = None
    operator_job: Any = None
    robot_job: Any = None
    r2_job: Any = None
    trigger_job: Any = None
    r4: Any = None
    ids: dict[str, Any] = field(default_factory=dict)


def _identity_provider(system: Any) -> Any:
    from causeway.access import identity_providers

    return identity_providers.identity_provider_create(
        actor=system,
        slug="world-idp",
        name="World Login",
        issuer="https://idp.acme.test",
        client_id="world-client",
        client_secret="world-idp-secret",
        trusted_domains=["acme.test"],
    )


def _group_mapping(ws: Any, provider: Any, group: Any, system: Any) -> Any:
    from causeway.access import group_mappings

    return group_mappings.group_mapping_create(
        actor=system, workspace=ws, provider=provider.slug, value="readers", group=group
    )


def build_world() -> World:
    from causeway.access import members as ws_services
    from causeway.access import services
    from causeway.recipes.services import bookmark_add, lookup_row_put

    system = system_actor()
    acme = cast(
        "admin",
        "analyst",
        "operator",
        "outsider",
        "staff",
        domain="acme.test",
        emails={"staff": "staff@platform.test", "outsider": "admin@other.test"},
    )
    ws, other = acme.workspace, acme.other
    people = acme.people()
    people["other_admin"] = people.pop("outsider")
    p1 = ProjectFactory.create(workspace=ws, name="P1")
    p2 = ProjectFactory.create(workspace=ws, name="P2")
    r1 = RecipeFactory.create(actor=people["analyst"], project=p1, name="R1", definition=MANUAL)
    r2 = RecipeFactory.create(project=p2, name="R2", definition=MANUAL)
    RecipeVersionFactory.create(actor=people["analyst"], recipe=r1, definition=MANUAL_V2, message="second")
    p3 = ProjectFactory.create(workspace=ws, name="P3 empty")
    p4 = ProjectFactory.create(workspace=ws, name="P4", environment="prod")
    r4 = RecipeFactory.create(project=p4, name="R4", definition=MANUAL)
    f1 = FolderFactory.create(project=p1, name="F1")
    t1 = LookupTableFactory.create(project=p1, name="T1")
    lookup_row_put(actor=system, table=t1, key="k1", values={"label": "first"})
    bookmark = bookmark_add(actor=people["analyst"], recipe=r1)
    op = ProjectFactory.create(workspace=other, name="O1")
    other_recipe = RecipeFactory.create(project=op, name="Theirs", definition=MANUAL)
    custom = builder(ws, UserFactory.create(email="custom@acme.test"), projects=[p1], perms=SCOPED_PERMS)
    people["custom"] = custom.user
    nothing_role = RoleFactory.create(workspace=ws, name="No access", permissions=[])
    people["group_only"] = UserFactory.create(email="grouponly@acme.test")
    member(ws, people["group_only"], nothing_role)
    group = services.group_create(actor=system, workspace=ws, name="Readers")
    group_member = services.group_member_add(actor=system, group=group, user=people["group_only"])
    group_grant = grants.grant_set(actor=system, workspace=ws, recipe=r1, group=group, capabilities=["read"])
    robot = service_account(ws, name="robot", token_name="ci", expires_in_days=30)
    grants.grant_set(
        actor=system, workspace=ws, recipe=r1, service_account=robot.account, capabilities=["execute"]
    )
    job = _failed_job(r1, user=people["analyst"])
    operator_job = _failed_job(r1, user=people["operator"])
    robot_job = _failed_job(r1, service_account=robot.account)
    r2_job = _failed_job(r2, user=people["operator"])
    trigger_job = _failed_job(r1, trigger_type="schedule")
    tokens = {
        name: ApiTokenFactory.create(user=people[name], name="t", expires_in_days=365).secret
        for name in PEOPLE
    }
    tokens["robot"] = robot.secret
    invitation = ws_services.workspace_invitation_create(
        actor=system, workspace=ws, email="newcomer@acme.test", role="operator"
    ).invitation
    platform_invitation = ws_services.platform_invitation_create(
        actor=system, email="someone@platform.test"
    ).invitation
    ids = _connections(ws, people, system)
    ids["pending_promotion"] = _pending_promotion(p1, people["operator"]).id
    ids["break_glass_request"] = _break_glass_request(ws, people["operator"]).id
    ids["break_glass_session"] = _break_glass_session(ws, people["operator"], people["admin"]).id
    provider = _identity_provider(system)
    ids["identity_provider"] = provider.id
    ids["group_mapping"] = _group_mapping(ws, provider, group, system).id
    ids |= _api_platform(ws, p1, system)
    return World(
        ws=ws,
        other=other,
        people={name: people[name] for name in PEOPLE},
        tokens=tokens,
        p1=p1,
        p2=p2,
        r1=r1,
        r2=r2,
        other_recipe=other_recipe,
        custom_role=custom.role,
        nothing_role=nothing_role,
        group=group,
        group_member=group_member,
        group_grant=group_grant,
        robot=robot.account,
        robot_token=robot.token,
        operator_membership=acme.operator.membership,
        invitation=invitation,
        platform_invitation=platform_invitation,
        p3=p3,
        f1=f1,
        t1=t1,
        bookmark=bookmark,
        job=job,
        operator_job=operator_job,
        robot_job=robot_job,
        r2_job=r2_job,
        trigger_job=trigger_job,
        r4=r4,
        ids=ids,
    )


def _pending_promotion(project: Any, requester: Any) -> Any:
    """A promotion of P1's TEST copy into its PROD copy, waiting for a second person's approval; it
    names no recipe, so approving it moves nothing."""
    from causeway.recipes.models import Project, Promotion

    copies = {p.environment: p for p in Project.objects.filter(family=project.family)}
    return Promotion.objects.create(
        workspace=project.workspace,
        source=copies["test"],
        target=copies["prod"],
        requested_by=requester,
        requested_label=requester.email,
        status="pending",
        details={
            "from": "test",
            "to": "prod",
            "recipes": [],
            "lookup_tables": [],
            "mapping": {},
            "rows": False,
        },
    )


def _break_glass_request(workspace: Any, requester: Any) -> Any:
    """The Operator's break-glass request, waiting for an Admin."""
    from causeway.runs.models import BreakGlass

    return BreakGlass.objects.create(
        workspace=workspace, user=requester, reason="incident in PROD", minutes=30
    )


def _break_glass_session(workspace: Any, holder: Any, approver: Any) -> Any:
    """The Operator's break-glass session, approved by the Admin and in force for the next hour."""
    from datetime import timedelta

    from django.utils import timezone

    from causeway.runs.models import BreakGlass

    now = timezone.now()
    return BreakGlass.objects.create(
        workspace=workspace,
        user=holder,
        reason="incident in PROD, approved",
        minutes=60,
        status=BreakGlass.APPROVED,
        approved_by=approver,
        approved_at=now,
        expires_at=now + timedelta(minutes=60),
    )


PINGER = {
    "key": "pinger",
    "name": "Pinger",
    "base_url": "http://127.0.0.1:9",
    "auth": ["none"],
    "actions": [{"key": "ping", "name": "Ping", "request": {"path": "/ping"}}],
}


def _connections(ws: Any, people: dict[str, Any], system: Any) -> dict[str, Any]:
    """The HTTP connector enabled; the Analyst's personal connection and a company one. Their base URL
    is a loopback address the workspace does not allow, so a test of either sends nothing anywhere."""
    from causeway.connections import oauth_profiles
    from causeway.connections import services as connections

    connections.connector_enable(actor=system, workspace=ws, key="http", enabled=True)
    fields: dict[str, Any] = {
        "connector_key": "http",
        "auth_method": "bearer",
        "settings": {"base_url": "http://127.0.0.1:9"},
        "credentials": {"token": "matrix-token"},
        "scopes": ["read"],
    }
    personal = connections.connection_create(
        actor=people["analyst"], workspace=ws, kind="personal", name="Analyst's", **fields
    )
    company = connections.connection_create(
        actor=system, workspace=ws, kind="company", name="Shared", **fields
    )
    connections.custom_connector_save(actor=system, workspace=ws, document=PINGER)
    profile = oauth_profiles.oauth_profile_create(
        actor=system,
        workspace=ws,
        connector_key="oauth2",
        display_name="Matrix IdP",
        client_id="matrix-client",
        client_secret="matrix-client-secret",
        authorize_url="https://id.example.com/authorize",
        token_url="https://id.example.com/token",
    )
    return {"personal_connection": personal.id, "company_connection": company.id, "oauth_profile": profile.id}


def _failed_job(
    recipe: Any, *, user: Any = None, service_account: Any = None, trigger_type: str = "manual"
) -> Any:
    """A job as a worker leaves one that failed (a failed job may be re-run, rule 14)."""
    return JobFactory.create(
        recipe=recipe,
        status="failed",
        trigger_type=trigger_type,
        run_by_user=user,
        run_by_service_account=service_account,
        error="the step s1 failed",
        trigger_payload={},
    )


def _api_platform(ws: Any, project: Any, system: Any) -> dict[str, Any]:
    """An API collection of P1 with one endpoint, and a client with a key that may call it."""
    from causeway.apiplat import services as apiplat

    recipe = RecipeFactory.create(
        project=project, name="R API", definition={"trigger": {"type": "api_endpoint"}, "steps": []}
    )
    collection = apiplat.collection_create(
        actor=system, workspace=ws, project=project.id, name="Orders", slug="orders"
    )
    endpoint = apiplat.endpoint_create(
        actor=system, collection=collection, method="POST", path="/orders/{order_id}", recipe=recipe.id
    )
    client = apiplat.client_create(
        actor=system, workspace=ws, name="Shop front", collection_ids=[str(collection.id)]
    )
    key, _ = apiplat.client_key_issue(actor=system, client=client, name="k", expires_in_days=30)
    return {
        "api_collection": collection.id,
        "api_endpoint": endpoint.id,
        "api_client": client.id,
        "api_key": key.id,
        "api_recipe": recipe.id,
    }
