"""The permission matrix (SECURITY-TESTS 1, DESIGN section 7): every URL pattern and every API
operation, called by every kind of actor, against ONE table of expected answers.

Columns (in this order, see `ACTORS`):
  anon   nobody signed in, no token
  admin  the workspace's Admin
  anal   an Analyst
  oper   an Operator
  cust   a member whose custom role covers project P1 only (recipe R1 is in P1)
  grp    a member with no role permissions, in a group that holds a read grant on R1
  sa     a service account with an execute grant on R1 (a Bearer token; pages see nobody)
  staff  a staff user who is not a member
  xadm   the Admin of another workspace

Each row is a test of its own (`-k 'GET-/workspaces/:workspace_id/roles'`, `-k web:home-GET`). The
world is built once for the rows a test process runs one after another, inside a transaction that is
never committed; each request runs in a transaction within it that is rolled back, so every row and
every actor meets the same world, and the tests after them do not meet it at all. A body,
where an operation takes one, is valid: a refusal is then the policy's, not the schema's. Pages
answer 302 to the login page for anyone not signed in; the API answers 401. A workspace nobody may
know about answers 404 (rule 9); a member lacking a permission gets 403 naming it.

To add an endpoint: one line, `Page(name, method, expected)` or `Api("METHOD /path", expected,
body)`, with path parameters filled by name from `PARAMS` (add a name there if it is new).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from causeway.accounts.tests.saml_idp import SAMPLE_METADATA
from causeway.tests.access_personas import ACTORS, MANUAL, PINGER, World, build_world
from causeway.tests.test_default_deny import walk
from testkit.support import https_client


class Ref(str):
    """A value of a body filled from PARAMS by that name (a body stays plain JSON for other readers)."""


EXPORT = {"format": "causeway.recipe/1", "name": "Imported", "description": "", "definition": MANUAL}


@dataclass(frozen=True)
class Page:
    name: str
    method: str
    expected: str
    params: tuple[tuple[str, str], ...] = ()  # URL kwarg -> PARAMS key, where the kwarg's name is ambiguous
    form: Callable[[World], dict[str, Any]] | None = None  # a valid form (POST); None: an empty one

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Api:
    route: str  # "METHOD /path/{param}" as the API declares it, below /api/v1
    expected: str
    body: Any = None  # the JSON body; a `Ref` in it is filled from PARAMS
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return self.route


# fmt: off
#                                                              anon admn anal oper cust grp  sa   staf xadm
ROWS: list[Page | Api] = [
    # Pages: platform and accounts.
    Page("web:home", "GET",                                   "302  200  200  200  200  200  302  200  200"),
    Page("web:health", "GET",                                 "200  200  200  200  200  200  200  200  200"),
    Page("web:login", "GET",                                  "200  200  200  200  200  200  200  200  200"),
    Page("web:logout", "POST",                                "302  302  302  302  302  302  302  302  302"),
    # A forgotten password: anyone may ask (an empty form: 400); a link that is no good answers 404.
    Page("web:password_reset", "GET",                         "200  200  200  200  200  200  200  200  200"),
    Page("web:password_reset", "POST",                        "400  400  400  400  400  400  400  400  400"),
    Page("web:password_reset_confirm", "GET",                 "404  404  404  404  404  404  404  404  404",
        params=(("token", "hook_token"),)),
    Page("web:password_reset_confirm", "POST",                "404  404  404  404  404  404  404  404  404",
        params=(("token", "hook_token"),)),
    Page("web:profile", "GET",                                "302  200  200  200  200  200  302  200  200"),
    Page("web:password_change", "POST",                       "302  400  400  400  400  400  302  400  400"),
    Page("web:tokens", "GET",                                 "302  200  200  200  200  200  302  200  200"),
    # Sessions: each person's own (a handle that is not theirs: 404); an Admin ends a member's.
    Page("web:sessions", "GET",                               "302  200  200  200  200  200  302  200  200"),
    Page("web:session_end", "POST",                           "302  404  404  404  404  404  302  404  404"),
    # The second factor: asked after the password (nobody is half-way signed in here: back to login),
    # and set up by each signed-in person for themselves (a wrong or missing code: 400).
    Page("web:login_mfa", "GET",                              "302  302  302  302  302  302  302  302  302"),
    Page("web:login_mfa", "POST",                             "302  302  302  302  302  302  302  302  302"),
    Page("web:login_mfa_passkey", "POST",                     "302  302  302  302  302  302  302  302  302"),
    Page("web:reauthenticate", "GET",                         "302  200  200  200  200  200  302  200  200"),
    Page("web:reauthenticate", "POST",                        "302  400  400  400  400  400  302  400  400"),
    Page("web:mfa", "GET",                                    "302  200  200  200  200  200  302  200  200"),
    Page("web:mfa_start", "POST",                             "302  200  200  200  200  200  302  200  200"),
    Page("web:mfa_confirm", "POST",                           "302  400  400  400  400  400  302  400  400"),
    Page("web:mfa_recovery_codes", "POST",                    "302  400  400  400  400  400  302  400  400"),
    Page("web:mfa_disable", "POST",                           "302  400  400  400  400  400  302  400  400"),
    # Passkeys: each person's own, added and removed after a step-up (someone else's: 404).
    Page("web:mfa_passkey_add", "POST",                       "302  400  400  400  400  400  302  400  400"),
    Page("web:mfa_passkey_rename", "POST",                    "302  404  404  404  404  404  302  404  404"),
    Page("web:mfa_passkey_remove", "POST",                    "302  404  404  404  404  404  302  404  404"),
    Page("web:token_revoke", "POST",                          "302  404  404  404  404  404  302  404  404"),
    Page("web:invitation", "GET",                             "404  404  404  404  404  404  404  404  404"),
    Page("web:platform", "GET",                               "302  404  404  404  404  404  302  200  404"),
    Page("web:platform_invite", "POST",                       "302  404  404  404  404  404  302  400  404"),
    Page("web:platform_workspace_create", "POST",             "302  404  404  404  404  404  302  400  404"),
    Page("web:platform_invitation_revoke", "POST",            "302  404  404  404  404  404  302  302  404",
        params=(("invitation", "platform_invitation"),)),
    # Single sign-on: leaving for a provider and coming back are everyone's (an unknown provider: 404;
    # a return nobody started: refused, 400); staff add and remove providers.
    Page("web:sso_login", "GET",                              "404  404  404  404  404  404  404  404  404",
        params=(("provider", "unknown_provider"),)),
    Page("web:sso_callback", "GET",                           "400  400  400  400  400  400  400  400  400",
        params=(("provider", "provider_slug"),)),
    Page("web:saml_login", "GET",                             "404  404  404  404  404  404  404  404  404",
        params=(("provider", "unknown_provider"),)),
    Page("web:saml_acs", "POST",                              "400  400  400  400  400  400  400  400  400",
        params=(("provider", "provider_slug"),)),
    Page("web:saml_metadata", "GET",                          "404  404  404  404  404  404  404  404  404",
        params=(("provider", "unknown_provider"),)),
    Page("web:platform_provider_create", "POST",              "302  404  404  404  404  404  302  400  404"),
    Page("web:platform_provider_create_saml", "POST",         "302  404  404  404  404  404  302  400  404"),
    Page("web:platform_provider_delete", "POST",              "302  404  404  404  404  404  302  302  404",
        params=(("provider", "identity_provider"),)),
    # Pages: workspace, members, settings, audit, vault.
    Page("web:workspace", "GET",                              "302  200  200  200  200  200  302  404  404"),
    Page("web:workspace_members", "GET",                      "302  200  403  403  403  403  302  404  404"),
    Page("web:workspace_member_invite", "POST",               "302  400  403  403  403  403  302  404  404"),
    Page("web:workspace_member_role", "POST",                 "302  400  403  403  403  403  302  404  404",
        params=(("member", "operator_membership"),)),
    Page("web:workspace_member_remove", "POST",               "302  302  403  403  403  403  302  404  404",
        params=(("member", "operator_membership"),)),
    Page("web:workspace_member_sessions_end", "POST",         "302  302  403  403  403  403  302  404  404",
        params=(("member", "operator_membership"),)),
    Page("web:workspace_invitation_revoke", "POST",           "302  302  403  403  403  403  302  404  404"),
    Page("web:workspace_settings", "GET",                     "302  200  403  403  403  403  302  404  404"),
    # Rotating the PROD signing key: key management, the Admin's, after a fresh sign-in.
    Page("web:workspace_signing_key_rotate", "POST",          "302  302  403  403  403  403  302  404  404"),
    Page("web:audit_log", "GET",                              "302  200  403  403  403  403  302  404  404"),
    Page("web:audit_verify", "POST",                          "302  200  403  403  403  403  302  404  404"),
    Page("web:vault", "GET",                                  "302  200  200  200  200  200  302  404  404"),
    Page("web:vault_set", "POST",                             "302  400  403  403  403  403  302  404  404"),
    Page("web:vault_delete", "POST",                          "302  404  403  403  403  403  302  404  404"),
    # Pages: connectors and connections. `connection` is the Analyst's personal connection: its owner
    # may do everything, the Admin see it and revoke it, nobody else know it exists (rule 6, rule 9);
    # `company_connection` every member sees and links; only Admins create company ones and switch
    # connectors (rule 3); creating a personal connection needs connection:create.
    Page("web:connectors", "GET",                             "302  200  200  200  200  200  302  404  404"),
    Page("web:connector_toggle", "POST",                      "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"enabled": "0"}),
    Page("web:connector_budget", "POST",                      "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"limit": "10", "period_seconds": "60"}),
    Page("web:custom_connector_save", "POST",                 "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"document": json.dumps({**PINGER, "key": "pinger_two"})}),
    Page("web:custom_connector_delete", "POST",               "302  302  302  403  403  403  302  404  404"),
    Page("web:connections", "GET",                            "302  200  200  200  200  200  302  404  404"),
    Page("web:connection_new", "GET",                         "302  200  200  200  200  200  302  404  404"),
    Page("web:connection_new", "POST",                        "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"connector": "http", "auth_method": "none", "kind": "personal", "name": "Mine",
                        "setting:base_url": "https://api.example.com"}),
    Page("web:connection", "GET",                             "302  200  200  404  404  404  302  404  404"),
    Page("web:connection", "GET",                             "302  200  200  200  200  200  302  404  404",
        params=(("connection", "company_connection"),)),
    Page("web:connection_update", "POST",                     "302  403  302  404  404  404  302  404  404",
        form=lambda w: {"scope": "read", "action": "get"}),
    Page("web:connection_budget", "POST",                     "302  403  302  404  404  404  302  404  404",
        form=lambda w: {"limit": "10", "period_seconds": "60"}),
    Page("web:connection_test", "POST",                       "302  403  302  404  404  404  302  404  404"),
    Page("web:connection_link", "POST",                       "302  302  302  302  302  302  302  404  404",
        params=(("connection", "company_connection"),), form=lambda w: {"link": "1"}),
    Page("web:connection_revoke", "POST",                     "302  302  302  404  404  404  302  404  404"),
    # OAuth: the connect flow (a personal sign-in needs connection:create; here the connector is not
    # enabled, so whoever may start is told so) and its callback (no state: refused to everyone), and
    # the workspace's OAuth profiles (members see them, Admins manage them, rule 3).
    Page("web:oauth_start", "POST",                           "302  400  400  403  403  403  302  404  404",
        form=lambda w: {"connector": "oauth2", "kind": "personal", "name": "Mine", "scope": "read",
                        "setting:base_url": "https://api.example.com"}),
    Page("web:oauth_callback", "GET",                         "302  400  400  400  400  400  302  404  404"),
    Page("web:oauth_profiles", "GET",                         "302  200  200  200  200  200  302  404  404"),
    Page("web:oauth_profiles", "POST",                        "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"connector": "oauth2", "display_name": "Second", "client_id": "c2",
                        "authorize_url": "https://id.example.com/a", "token_url": "https://id.example.com/t"}),
    Page("web:oauth_profile", "GET",                          "302  200  200  200  200  200  302  404  404"),
    Page("web:oauth_profile", "POST",                         "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"display_name": "Renamed"}),
    Page("web:oauth_profile_delete", "POST",                  "302  302  403  403  403  403  302  404  404"),
    # Pages: roles, groups, recipe grants, environments, service accounts, access review.
    Page("web:access_roles", "GET",                           "302  200  403  403  403  403  302  404  404"),
    Page("web:access_role_create", "POST",                    "302  400  403  403  403  403  302  404  404"),
    Page("web:access_role_update", "POST",                    "302  400  403  403  403  403  302  404  404"),
    Page("web:access_role_delete", "POST",                    "302  400  403  403  403  403  302  404  404"),
    Page("web:access_groups", "GET",                          "302  200  403  403  403  403  302  404  404"),
    Page("web:access_group_create", "POST",                   "302  400  403  403  403  403  302  404  404"),
    Page("web:access_group_delete", "POST",                   "302  302  403  403  403  403  302  404  404"),
    Page("web:access_group_roles", "POST",                    "302  302  403  403  403  403  302  404  404"),
    Page("web:access_group_member_add", "POST",               "302  400  403  403  403  403  302  404  404"),
    Page("web:access_group_member_remove", "POST",            "302  302  403  403  403  403  302  404  404",
        params=(("member", "group_member"),)),
    Page("web:access_group_mapping_create", "POST",           "302  400  403  403  403  403  302  404  404"),
    Page("web:access_group_mapping_delete", "POST",           "302  302  403  403  403  403  302  404  404"),
    Page("web:recipe_access", "GET",                          "302  200  200  200  200  200  302  404  404"),
    Page("web:recipe_grant_set", "POST",                      "302  400  400  403  400  403  302  404  404"),
    Page("web:recipe_grant_remove", "POST",                   "302  302  302  403  302  403  302  404  404"),
    Page("web:access_environments", "GET",                    "302  200  200  200  200  200  302  404  404"),
    Page("web:access_environment_set", "POST",                "302  302  403  403  403  403  302  404  404"),
    Page("web:access_service_accounts", "GET",                "302  200  403  403  403  403  302  404  404"),
    Page("web:access_service_account_create", "POST",         "302  400  403  403  403  403  302  404  404"),
    Page("web:access_service_account_state", "POST",          "302  302  403  403  403  403  302  404  404"),
    Page("web:access_service_account_token_create", "POST",   "302  400  403  403  403  403  302  404  404"),
    Page("web:access_service_account_token_revoke", "POST",   "302  302  403  403  403  403  302  404  404"),
    Page("web:access_review", "GET",                          "302  200  403  403  403  403  302  404  404"),
    Page("web:access_review_export", "GET",                   "302  200  403  403  403  403  302  404  404"),
    Page("web:workspace_settings", "POST",                    "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"section": "outbound", "outbound_hosts": "intranet.acme.test"}),
    Page("web:workspace_settings", "POST",                    "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"section": "notifications", "interval_minutes": "30"}),
    # Pages: projects, folders, recipes, lookup tables, bookmarks. P1 holds R1, the empty folder F1 and the
    # lookup table T1; P3 is empty. The custom role covers P1 without create, delete or lookup tables; the
    # group member sees P1's name (through its grant on R1) and R1, no folder or table in P1.
    Page("web:recipes", "GET",                                "302  200  200  200  200  200  302  404  404"),
    Page("web:bookmarks", "GET",                              "302  200  200  200  200  200  302  404  404"),
    Page("web:watching", "GET",                               "302  200  200  200  200  200  302  404  404"),
    Page("web:project_create", "POST",                        "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "P9", "environment": "dev"}),
    Page("web:project", "GET",                                "302  200  200  200  200  200  302  404  404"),
    Page("web:project_rename", "POST",                        "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "P1 renamed"}),
    Page("web:project_delete", "POST",                        "302  302  302  403  404  404  302  404  404",
        params=(("project", "empty_project"),)),
    # Migrate: promote in the target (the Admin's), write where the recipes are built.
    Page("web:project_migrate", "GET",                        "302  200  403  403  403  404  302  404  404"),
    Page("web:project_migrate", "POST",                       "302  302  403  403  403  404  302  404  404",
        form=lambda w: {"recipes": [str(w.r1.id)]}),
    Page("web:project_changes", "GET",                        "302  200  403  403  403  404  302  404  404"),
    # A promotion into PROD waiting for a second person (asked for by the Operator): those who may
    # promote into PROD decide it.
    Page("web:promotion_approve", "POST",                     "302  302  403  403  403  404  302  404  404"),
    Page("web:promotion_reject", "POST",                      "302  302  403  403  403  404  302  404  404"),
    # Rollback of the PROD recipe R4 (its one version is current, so a rollback to it is refused: 409).
    Page("web:recipe_rollback", "GET",                        "302  200  403  403  404  404  302  404  404",
        params=(("recipe", "r4"),)),
    Page("web:recipe_rollback", "POST",                       "302  409  403  403  404  404  302  404  404",
        params=(("recipe", "r4"),), form=lambda w: {"version": "1"}),
    Page("web:folder_create", "POST",                         "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "F9"}),
    Page("web:folder_rename", "POST",                         "302  302  302  403  403  404  302  404  404",
        form=lambda w: {"name": "F1 renamed"}),
    Page("web:folder_delete", "POST",                         "302  302  302  403  403  404  302  404  404"),
    Page("web:recipe_create", "POST",                         "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "R9"}),
    Page("web:project_import", "POST",                        "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "R9", "file": _export_file()}),
    Page("web:lookup_table_create", "POST",                   "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "T9", "column_name": "code", "column_type": "text", "key_column": "code"}),
    Page("web:recipe", "GET",                                 "302  200  200  200  200  200  302  404  404"),
    # R2 is in P2, outside the custom role's scope and without grants; another workspace's recipe is not here.
    Page("web:recipe", "GET",                                 "302  200  200  200  404  404  302  404  404",
        params=(("recipe", "r2"),)),
    Page("web:recipe", "GET",                                 "302  404  404  404  404  404  302  404  404",
        params=(("recipe", "other_recipe"),)),
    Page("web:recipe_build", "GET",                           "302  200  200  403  200  403  302  404  404"),
    Page("web:recipe_build", "POST",                          "302  200  200  403  200  403  302  404  404",
        form=lambda w: {"op": "refresh"}),
    Page("web:recipe_versions", "GET",                        "302  200  200  200  200  200  302  404  404"),
    Page("web:recipe_version", "GET",                         "302  200  200  200  200  200  302  404  404"),
    Page("web:recipe_restore", "POST",                        "302  302  302  403  302  403  302  404  404"),
    Page("web:recipe_diff", "GET",                            "302  200  200  200  200  200  302  404  404"),
    Page("web:recipe_start", "POST",                          "302  302  302  302  302  403  302  404  404"),
    # R4 is in PROD: no person, not even the Admin, may start, change or run it there by default (rule 5).
    Page("web:recipe_start", "POST",                          "302  403  403  403  404  404  302  404  404",
        params=(("recipe", "r4"),)),
    Page("web:recipe_stop", "POST",                           "302  302  302  302  302  403  302  404  404"),
    Page("web:recipe_rename", "POST",                         "302  302  302  403  302  403  302  404  404",
        form=lambda w: {"name": "R1 renamed"}),
    # The group member may not see F1 at all: the folder it names is not found before the recipe is asked.
    Page("web:recipe_move", "POST",                           "302  302  302  403  302  404  302  404  404",
        form=lambda w: {"folder": str(w.f1.id)}),
    Page("web:recipe_delete", "POST",                         "302  302  302  403  403  403  302  404  404"),
    Page("web:recipe_bookmark", "POST",                       "302  302  302  302  302  302  302  404  404",
        form=lambda w: {"pin": "1"}),
    # Each person who may read R1 watches it for themselves, told by email.
    Page("web:recipe_watch", "POST",                          "302  302  302  302  302  302  302  404  404",
        form=lambda w: {"email": "on"}),
    Page("web:recipe_unwatch", "POST",                        "302  302  302  302  302  302  302  404  404"),
    Page("web:recipe_export", "GET",                          "302  200  200  200  200  200  302  404  404"),
    Page("web:recipe_import", "POST",                         "302  302  302  403  302  403  302  404  404",
        form=lambda w: {"file": _export_file()}),
    Page("web:lookup_tables", "GET",                          "302  200  200  200  200  200  302  404  404"),
    Page("web:lookup_table", "GET",                           "302  200  200  404  404  404  302  404  404"),
    Page("web:lookup_row_put", "POST",                        "302  302  302  404  404  404  302  404  404",
        form=lambda w: {"col:code": "k2", "col:label": "second"}),
    Page("web:lookup_row_delete", "POST",                     "302  302  302  404  404  404  302  404  404",
        form=lambda w: {"key": "k1"}),
    Page("web:lookup_table_delete", "POST",                   "302  302  302  404  404  404  302  404  404"),
    # Pages: jobs (rule 8). `job` is a failed job of R1 the Analyst ran: the Admin, the Analyst and the
    # Operator hold debug (rule 4: job history) and see every job of R1; the custom role holds no debug and
    # the group member only a read grant, and neither ran it. `operator_job` is the Operator's own;
    # `r2_job` the Operator's job of R2; `trigger_job` a job of R1 the schedule fired (no one ran it).
    Page("web:runs", "GET",                                   "302  200  200  200  200  200  302  404  404"),
    # Break-glass: a job's data (a DEV job's needs no session), asking for access, an Admin approving
    # the Operator's request (approving and refusing ask for the workspace's settings: every other
    # member is refused before the session is looked up), the self-approval setting.
    Page("web:runs_job_data", "GET",                          "302  200  200  200  404  404  302  404  404"),
    Page("web:break_glass", "GET",                            "302  200  200  200  200  200  302  404  404"),
    Page("web:break_glass", "POST",                           "302  302  302  302  302  302  302  404  404",
        form=lambda w: {"reason": "incident 42 in PROD", "minutes": "30"}),
    Page("web:break_glass_approve", "POST",                   "302  302  403  403  403  403  302  404  404",
        params=(("session", "break_glass_request"),)),
    # The Operator withdraws its own request (an Admin refuses it instead); an Admin refuses it; the
    # Operator's session in force is ended early by its holder or an Admin.
    Page("web:break_glass_withdraw", "POST",                  "302  403  404  302  404  404  302  404  404",
        params=(("session", "break_glass_request"),)),
    Page("web:break_glass_refuse", "POST",                    "302  302  403  403  403  403  302  404  404",
        params=(("session", "break_glass_request"),)),
    Page("web:break_glass_end", "POST",                       "302  302  404  302  404  404  302  404  404",
        params=(("session", "break_glass_session"),)),
    Page("web:break_glass_settings", "POST",                  "302  302  403  403  403  403  302  404  404",
        form=lambda w: {"self_approval": "on"}),
    Page("web:runs_job", "GET",                               "302  200  200  200  404  404  302  404  404"),
    Page("web:runs_job", "GET",                               "302  200  200  200  404  404  302  404  404",
        params=(("job", "operator_job"),)),
    Page("web:runs_job", "GET",                               "302  200  200  200  404  404  302  404  404",
        params=(("job", "r2_job"),)),
    Page("web:runs_job", "GET",                               "302  200  200  200  404  404  302  404  404",
        params=(("job", "robot_job"),)),
    Page("web:runs_job", "GET",                               "302  200  200  200  404  404  302  404  404",
        params=(("job", "trigger_job"),)),
    # Re-running is running: no person executes in DEV under rule 5's default policy.
    Page("web:runs_job_rerun", "POST",                        "302  403  403  403  404  404  302  404  404"),
    Page("web:runs_job_rerun", "POST",                        "302  403  403  403  404  404  302  404  404",
        params=(("job", "operator_job"),)),
    # Cancelling asks what running asks; the world's jobs are finished, so one it allows answers 409.
    Page("web:runs_job_cancel", "POST",                       "302  403  403  403  404  404  302  404  404"),
    Page("web:runs_job_cancel", "POST",                       "302  403  403  403  404  404  302  404  404",
        params=(("job", "robot_job"),)),
    Page("web:runs_recipe_jobs", "GET",                       "302  200  200  200  200  200  302  404  404"),
    Page("web:runs_recipe_jobs", "POST",                      "302  403  403  403  403  403  302  404  404",
        form=lambda w: {"mode": "run", "payload": "{}"}),
    Page("web:runs_recipe_jobs", "POST",                      "302  302  302  302  302  403  302  404  404",
        form=lambda w: {"mode": "test", "payload": "{}"}),
    Page("web:schedule", "GET",                               "302  200  200  200  200  200  302  404  404"),
    # The API reference: signed-in people only; a service account is refused it (rule 8).
    Page("api:openapi-view", "GET",                           "302  200  200  200  200  200  302  200  200"),
    Page("api:openapi-json", "GET",                           "401  200  200  200  200  200  403  200  200"),
    # API: platform and accounts.
    Api("GET /health",                                        "200  200  200  200  200  200  200  200  200"),
    Api("GET /me",                                            "401  200  200  200  200  200  403  200  200"),
    Api("PATCH /me",                                          "401  200  200  200  200  200  403  200  200",
        body={"first_name": "Grace"}),
    Api("POST /me/password",                                  "401  400  400  400  400  400  403  400  400",
        body={"current_password": "wrong-Password-1", "new_password": "another-Horse-battery-8"}),
    Api("GET /me/tokens",                                     "401  200  200  200  200  200  403  200  200"),
    Api("POST /me/tokens",                                    "401  201  201  201  201  201  403  201  201",
        body={"name": "more"}),
    Api("DELETE /me/tokens/{token_id}",                       "401  404  404  404  404  404  403  404  404"),
    Api("GET /me/sessions",                                   "401  200  200  200  200  200  403  200  200"),
    Api("DELETE /me/sessions/{session_handle}",               "401  404  404  404  404  404  403  404  404"),
    Api("POST /me/reauthenticate",                            "401  400  400  400  400  400  403  400  400",
        body={}),
    Api("GET /me/mfa",                                        "401  200  200  200  200  200  403  200  200"),
    Api("POST /me/mfa/totp",                                  "401  201  201  201  201  201  403  201  201"),
    Api("POST /me/mfa/totp/confirm",                          "401  400  400  400  400  400  403  400  400",
        body={"code": "000000"}),
    Api("POST /me/mfa/recovery-codes",                        "401  400  400  400  400  400  403  400  400",
        body={"code": "000000"}),
    Api("POST /me/mfa/disable",                               "401  400  400  400  400  400  403  400  400",
        body={"code": "000000"}),
    Api("GET /me/mfa/passkeys",                               "401  200  200  200  200  200  403  200  200"),
    Api("DELETE /me/mfa/passkeys/{passkey_id}",               "401  404  404  404  404  404  403  404  404"),
    Api("GET /workspaces",                                    "401  200  200  200  200  200  403  200  200"),
    Api("POST /workspaces",                                   "401  404  404  404  404  404  403  201  404",
        body={"name": "New Co"}),
    Api("POST /platform/invitations",                         "401  404  404  404  404  404  403  201  404",
        body={"email": "p@platform.test"}),
    Api("GET /platform/invitations",                          "401  404  404  404  404  404  403  200  404"),
    Api("DELETE /platform/invitations/{invitation_id}",       "401  404  404  404  404  404  403  204  404",
        params=(("invitation_id", "platform_invitation"),)),
    Api("GET /platform/identity-providers",                   "401  404  404  404  404  404  403  200  404"),
    Api("POST /platform/identity-providers",                  "401  404  404  404  404  404  403  201  404",
        body={"slug": "more", "name": "More Login", "issuer": "https://more.acme.test", "client_id": "c",
              "client_secret": "s", "trusted_domains": ["acme.test"]}),
    Api("POST /platform/identity-providers/saml",             "401  404  404  404  404  404  403  201  404",
        body={"slug": "corp", "name": "Corp SSO", "metadata": SAMPLE_METADATA,
              "trusted_domains": ["acme.test"]}),
    Api("PATCH /platform/identity-providers/{provider_id}",   "401  404  404  404  404  404  403  200  404",
        body={"enabled": False}, params=(("provider_id", "identity_provider"),)),
    Api("DELETE /platform/identity-providers/{provider_id}",  "401  404  404  404  404  404  403  204  404",
        params=(("provider_id", "identity_provider"),)),
    # API: workspace, members, audit, vault.
    Api("GET /workspaces/{workspace_id}",                     "401  200  200  200  200  200  403  404  404"),
    Api("PATCH /workspaces/{workspace_id}",                   "401  200  403  403  403  403  403  404  404",
        body={"name": "Acme Two"}),
    Api("GET /workspaces/{workspace_id}/members",             "401  200  403  403  403  403  403  404  404"),
    Api("PATCH /workspaces/{workspace_id}/members/{member_id}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"role": "analyst"}, params=(("member_id", "operator_membership"),)),
    Api("DELETE /workspaces/{workspace_id}/members/{member_id}",
                                                              "401  204  403  403  403  403  403  404  404",
        params=(("member_id", "operator_membership"),)),
    Api("DELETE /workspaces/{workspace_id}/members/{member_id}/sessions",
                                                              "401  200  403  403  403  403  403  404  404",
        params=(("member_id", "operator_membership"),)),
    Api("POST /workspaces/{workspace_id}/invitations",        "401  201  403  403  403  403  403  404  404",
        body={"email": "another@acme.test", "role": "operator"}),
    Api("GET /workspaces/{workspace_id}/invitations",         "401  200  403  403  403  403  403  404  404"),
    Api("DELETE /workspaces/{workspace_id}/invitations/{invitation_id}",
                                                              "401  204  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/audit-events",        "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/audit-events/verify",
                                                              "401  200  403  403  403  403  403  404  404"),
    # API: connectors and connections (as their pages above).
    Api("GET /workspaces/{workspace_id}/connectors",          "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/connectors/{connector_key}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"enabled": True}),
    Api("PUT /workspaces/{workspace_id}/connectors/{connector_key}/budget",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"limit": 10, "period_seconds": 60}),
    Api("GET /workspaces/{workspace_id}/custom-connectors/schema",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/custom-connectors",  "401  201  201  403  403  403  403  404  404",
        body={"document": {**PINGER, "key": "pinger_two"}}),
    Api("DELETE /workspaces/{workspace_id}/custom-connectors/{custom_key}",
                                                              "401  204  204  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/connections",         "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/connections",        "401  201  201  403  403  403  403  404  404",
        body={"kind": "personal", "connector": "http", "name": "Mine", "auth_method": "none",
              "settings": {"base_url": "https://api.example.com"}}),
    Api("GET /workspaces/{workspace_id}/connections/{connection_id}",
                                                              "401  200  200  404  404  404  403  404  404"),
    Api("GET /workspaces/{workspace_id}/connections/{connection_id}",
                                                              "401  200  200  200  200  200  403  404  404",
        params=(("connection_id", "company_connection"),)),
    Api("PATCH /workspaces/{workspace_id}/connections/{connection_id}",
                                                              "401  403  200  404  404  404  403  404  404",
        body={"scopes": ["read"]}),
    Api("PUT /workspaces/{workspace_id}/connections/{connection_id}/budget",
                                                              "401  403  200  404  404  404  403  404  404",
        body={"limit": 10, "period_seconds": 60}),
    Api("POST /workspaces/{workspace_id}/connections/{connection_id}/test",
                                                              "401  403  200  404  404  404  403  404  404"),
    Api("DELETE /workspaces/{workspace_id}/connections/{connection_id}",
                                                              "401  204  204  404  404  404  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/connections/{connection_id}/link",
                                                              "401  204  204  204  204  204  403  404  404",
        params=(("connection_id", "company_connection"),)),
    Api("DELETE /workspaces/{workspace_id}/connections/{connection_id}/link",
                                                              "401  204  204  204  204  204  403  404  404",
        params=(("connection_id", "company_connection"),)),
    Api("GET /workspaces/{workspace_id}/connections/{connection_id}/uses",
                                                              "401  403  200  404  404  404  403  404  404"),
    Api("GET /workspaces/{workspace_id}/oauth-profiles",      "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/oauth-profiles",     "401  201  403  403  403  403  403  404  404",
        body={"connector": "oauth2", "display_name": "Second", "client_id": "c2",
              "authorize_url": "https://id.example.com/a", "token_url": "https://id.example.com/t"}),
    Api("GET /workspaces/{workspace_id}/oauth-profiles/{profile_id}",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("PATCH /workspaces/{workspace_id}/oauth-profiles/{profile_id}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"display_name": "Renamed"}),
    Api("DELETE /workspaces/{workspace_id}/oauth-profiles/{profile_id}",
                                                              "401  204  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/secrets",             "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/secrets/{name}",      "401  201  403  403  403  403  403  404  404",
        body={"value": "v"}),
    Api("DELETE /workspaces/{workspace_id}/secrets/{name}",   "401  404  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/job-retention",       "401  200  403  403  403  403  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/job-retention",       "401  200  403  403  403  403  403  404  404",
        body={"days": 60}),
    # API: access.
    Api("GET /workspaces/{workspace_id}/roles",               "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/roles",              "401  201  403  403  403  403  403  404  404",
        body={"name": "Viewer", "permissions": ["recipe:view"]}),
    Api("PATCH /workspaces/{workspace_id}/roles/{role_id}",   "401  200  403  403  403  403  403  404  404",
        body={"permissions": ["recipe:view"]}),
    Api("DELETE /workspaces/{workspace_id}/roles/{role_id}",  "401  400  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/groups",              "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/groups",             "401  201  403  403  403  403  403  404  404",
        body={"name": "Builders"}),
    Api("GET /workspaces/{workspace_id}/groups/{group_id}",   "401  200  403  403  403  403  403  404  404"),
    Api("PATCH /workspaces/{workspace_id}/groups/{group_id}", "401  200  403  403  403  403  403  404  404",
        body={"roles": ["operator"]}),
    Api("DELETE /workspaces/{workspace_id}/groups/{group_id}",
                                                              "401  204  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/groups/{group_id}/members",
                                                              "401  201  403  403  403  403  403  404  404",
        body={"user": "operator@acme.test"}),
    Api("DELETE /workspaces/{workspace_id}/groups/{group_id}/members/{member_id}",
                                                              "401  204  403  403  403  403  403  404  404",
        params=(("member_id", "group_member"),)),
    Api("GET /workspaces/{workspace_id}/group-mappings",      "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/group-mappings",     "401  201  403  403  403  403  403  404  404",
        body={"provider": "world-idp", "value": "builders", "group": Ref("group_id")}),
    Api("DELETE /workspaces/{workspace_id}/group-mappings/{mapping_id}",
                                                              "401  204  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/grants",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/recipes/{recipe_id}/grants",
                                                              "401  200  200  403  200  403  403  404  404",
        body={"user": "operator@acme.test", "capabilities": ["read"]}),
    Api("DELETE /workspaces/{workspace_id}/recipes/{recipe_id}/grants/{grant_id}",
                                                              "401  204  204  403  204  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/explain",
                                                              "401  200  200  200  200  200  403  404  404",
        params=(("permission", "recipe_edit"),)),
    Api("GET /workspaces/{workspace_id}/environments",        "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/environments/{environment}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"capabilities": ["read", "write", "debug"]}),
    Api("GET /workspaces/{workspace_id}/service-accounts",    "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/service-accounts",   "401  201  403  403  403  403  403  404  404",
        body={"name": "deployer"}),
    Api("PATCH /workspaces/{workspace_id}/service-accounts/{account_id}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"active": False}),
    Api("POST /workspaces/{workspace_id}/service-accounts/{account_id}/tokens",
                                                              "401  201  403  403  403  403  403  404  404",
        body={"name": "nightly", "expires_in_days": 7}),
    Api("DELETE /workspaces/{workspace_id}/service-accounts/{account_id}/tokens/{token_id}",
                                                              "401  204  403  403  403  403  403  404  404",
        params=(("token_id", "robot_token"),)),
    Api("GET /workspaces/{workspace_id}/access-review",       "401  200  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/outbound-hosts",      "401  200  403  403  403  403  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/outbound-hosts",      "401  200  403  403  403  403  403  404  404",
        body={"hosts": ["intranet.acme.test"]}),
    # API: projects, folders, recipes, bookmarks, lookup tables (the world as for the pages above).
    Api("GET /workspaces/{workspace_id}/projects",            "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/projects",           "401  201  201  403  403  403  403  404  404",
        body={"name": "P9", "environment": "dev"}),
    Api("PATCH /workspaces/{workspace_id}/projects/{project_id}",
                                                              "401  200  200  403  403  403  403  404  404",
        body={"name": "P1 renamed"}),
    Api("DELETE /workspaces/{workspace_id}/projects/{project_id}",
                                                              "401  204  204  403  404  404  403  404  404",
        params=(("project_id", "empty_project"),)),
    Api("POST /workspaces/{workspace_id}/projects/{project_id}/promotions",
                                                              "401  201  403  403  403  404  403  404  404",
        body={"recipes": [Ref("recipe_id")]}),
    Api("GET /workspaces/{workspace_id}/projects/{project_id}/promotions",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("GET /workspaces/{workspace_id}/projects/{project_id}/changes",
                                                              "401  200  403  403  403  404  403  404  404"),
    Api("POST /workspaces/{workspace_id}/promotions/{promotion_id}/approve",
                                                              "401  200  403  403  403  404  403  404  404"),
    Api("POST /workspaces/{workspace_id}/promotions/{promotion_id}/reject",
                                                              "401  200  403  403  403  404  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/rollback",
                                                              "401  200  403  403  404  404  403  404  404",
        params=(("recipe_id", "r4"),)),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/rollback",
                                                              "401  409  403  403  404  404  403  404  404",
        params=(("recipe_id", "r4"),), body={"version": 1}),
    Api("GET /workspaces/{workspace_id}/signing-key",         "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/signing-key/rotate", "401  200  403  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/prod-approval",       "401  200  403  403  403  403  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/prod-approval",       "401  200  403  403  403  403  403  404  404",
        body={"required": True}),
    Api("GET /workspaces/{workspace_id}/folders",             "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/folders",            "401  201  201  403  403  403  403  404  404",
        body={"project_id": Ref("project_id"), "name": "F9"}),
    Api("PATCH /workspaces/{workspace_id}/folders/{folder_id}",
                                                              "401  200  200  403  403  404  403  404  404",
        body={"name": "F1 renamed"}),
    Api("DELETE /workspaces/{workspace_id}/folders/{folder_id}",
                                                              "401  204  204  403  403  404  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes",             "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes",            "401  201  201  403  403  403  403  404  404",
        body={"project_id": Ref("project_id"), "name": "R9", "definition": MANUAL}),
    Api("POST /workspaces/{workspace_id}/recipes/import",     "401  201  201  403  403  403  403  404  404",
        body={"project_id": Ref("project_id"), "name": "R9", "export": EXPORT}),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}", "401  200  200  200  200  200  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}", "401  200  200  200  404  404  403  404  404",
        params=(("recipe_id", "r2"),)),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}", "401  404  404  404  404  404  403  404  404",
        params=(("recipe_id", "other_recipe"),)),
    Api("PATCH /workspaces/{workspace_id}/recipes/{recipe_id}",
                                                              "401  200  200  403  404  404  403  404  404",
        body={"name": "R2 renamed"}, params=(("recipe_id", "r2"),)),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}", "401  200  200  200  404  404  403  404  404",
        params=(("recipe_id", "r4"),)),
    Api("PATCH /workspaces/{workspace_id}/recipes/{recipe_id}",
                                                              "401  403  403  403  404  404  403  404  404",
        body={"name": "R4 renamed"}, params=(("recipe_id", "r4"),)),
    Api("PATCH /workspaces/{workspace_id}/recipes/{recipe_id}",
                                                              "401  200  200  403  200  403  403  404  404",
        body={"name": "R1 renamed"}),
    Api("DELETE /workspaces/{workspace_id}/recipes/{recipe_id}",
                                                              "401  204  204  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/versions",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/versions",
                                                              "401  201  201  403  201  403  403  404  404",
        body={"definition": MANUAL, "message": "third"}),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/versions/{number}",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/versions/{number}/restore",
                                                              "401  201  201  403  201  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/diff",
                                                              "401  200  200  200  200  200  403  404  404",
        params=(("from", "first_version"), ("to", "second_version"))),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/start",
                                                              "401  200  200  200  200  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/stop",
                                                              "401  200  200  200  200  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/export",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/import",
                                                              "401  201  201  403  201  403  403  404  404",
        body={"export": EXPORT}),
    Api("GET /workspaces/{workspace_id}/bookmarks",           "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/recipes/{recipe_id}/bookmark",
                                                              "401  204  204  204  204  204  403  404  404"),
    Api("DELETE /workspaces/{workspace_id}/recipes/{recipe_id}/bookmark",
                                                              "401  204  204  204  204  204  403  404  404"),
    Api("GET /workspaces/{workspace_id}/watches",             "401  200  200  200  200  200  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/recipes/{recipe_id}/watch",
                                                              "401  200  200  200  200  200  403  404  404",
        body={"email": True}),
    Api("DELETE /workspaces/{workspace_id}/recipes/{recipe_id}/watch",
                                                              "401  204  204  204  204  204  403  404  404"),
    # The notification interval is the Admin's (rule 3).
    Api("GET /workspaces/{workspace_id}/notifications",       "401  200  403  403  403  403  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/notifications",       "401  200  403  403  403  403  403  404  404",
        body={"interval_minutes": 30}),
    Api("GET /workspaces/{workspace_id}/lookup-tables",       "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/lookup-tables",      "401  201  201  403  403  403  403  404  404",
        body={"project_id": Ref("project_id"), "name": "T9", "columns": [{"name": "code"}],
              "key_column": "code"}),
    Api("GET /workspaces/{workspace_id}/lookup-tables/{table_id}",
                                                              "401  200  200  404  404  404  403  404  404"),
    Api("DELETE /workspaces/{workspace_id}/lookup-tables/{table_id}",
                                                              "401  204  204  404  404  404  403  404  404"),
    Api("GET /workspaces/{workspace_id}/lookup-tables/{table_id}/rows",
                                                              "401  200  200  404  404  404  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/lookup-tables/{table_id}/rows/{key}",
                                                              "401  200  200  404  404  404  403  404  404",
        body={"values": {"label": "changed"}}),
    Api("DELETE /workspaces/{workspace_id}/lookup-tables/{table_id}/rows/{key}",
                                                              "401  204  204  404  404  404  403  404  404"),
    # Triggers: a webhook call (an unknown token), the recipe's Webhook page and API, trigger state.
    Page("web:hook", "POST",                                  "404  404  404  404  404  404  404  404  404",
        params=(("token", "hook_token"),)),
    Page("web:recipe_webhook", "GET",                         "302  200  200  403  200  403  302  404  404"),
    Page("web:recipe_webhook_rotate", "POST",                 "302  200  200  403  200  403  302  404  404"),
    # A connector webhook call (an unknown token); setting a connector webhook's secret on a recipe whose
    # trigger is not one is refused by the service (a form error on the page, 409 on the API) for those
    # who may edit it.
    Page("web:connector_hook", "POST",                        "404  404  404  404  404  404  404  404  404",
        params=(("token", "hook_token"),)),
    Page("web:recipe_webhook_secret", "POST",                 "302  400  400  403  400  403  302  404  404"),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/webhook",
                                                              "401  200  200  403  200  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/webhook/rotate",
                                                              "401  200  200  403  200  403  403  404  404"),
    Api("PUT /workspaces/{workspace_id}/recipes/{recipe_id}/webhook/secret",
                                                              "401  409  409  403  409  403  403  404  404",
        body={"secret": "provider-issued-secret"}),
    Api("GET /workspaces/{workspace_id}/recipes/{recipe_id}/trigger",
                                                              "401  200  200  200  200  200  403  404  404"),
    # API: jobs.
    Api("GET /workspaces/{workspace_id}/jobs",                "401  200  200  200  200  200  200  404  404"),
    # The jobs of the pages above; a service account reads only the jobs it started (rule 8).
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}",       "401  200  200  200  404  404  404  404  404"),
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}/data",  "401  200  200  200  404  404  404  404  404"),
    Api("GET /workspaces/{workspace_id}/break-glass",         "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/break-glass",        "401  201  201  201  201  201  403  404  404",
        body={"reason": "incident 42 in PROD", "minutes": 30}),
    Api("POST /workspaces/{workspace_id}/break-glass/{session_id}/approve",
                                                              "401  200  403  403  403  403  403  404  404",
        params=(("session_id", "break_glass_request"),)),
    Api("POST /workspaces/{workspace_id}/break-glass/{session_id}/withdraw",
                                                              "401  403  404  200  404  404  403  404  404",
        params=(("session_id", "break_glass_request"),)),
    Api("POST /workspaces/{workspace_id}/break-glass/{session_id}/refuse",
                                                              "401  200  403  403  403  403  403  404  404",
        params=(("session_id", "break_glass_request"),)),
    Api("POST /workspaces/{workspace_id}/break-glass/{session_id}/end",
                                                              "401  200  404  200  404  404  403  404  404",
        params=(("session_id", "break_glass_session"),)),
    Api("PUT /workspaces/{workspace_id}/break-glass/settings",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"self_approval": True}),
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}",       "401  200  200  200  404  404  404  404  404",
        params=(("job_id", "operator_job"),)),
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}",       "401  200  200  200  404  404  404  404  404",
        params=(("job_id", "r2_job"),)),
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}",       "401  200  200  200  404  404  200  404  404",
        params=(("job_id", "robot_job"),)),
    Api("GET /workspaces/{workspace_id}/jobs/{job_id}",       "401  200  200  200  404  404  404  404  404",
        params=(("job_id", "trigger_job"),)),
    # Running for real: the service account's; no person executes in DEV by default (rule 5).
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/jobs",
                                                              "401  403  403  403  403  403  201  404  404",
        body={}),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/jobs",
                                                              "401  403  403  403  404  404  404  404  404",
        body={}, params=(("recipe_id", "r2"),)),
    # A test run is not execute: allowed in DEV to whoever may test the recipe.
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/jobs",
                                                              "401  201  201  201  201  403  403  404  404",
        body={"test": True}),
    Api("POST /workspaces/{workspace_id}/recipes/{recipe_id}/jobs",
                                                              "401  403  403  403  404  404  404  404  404",
        body={}, params=(("recipe_id", "r4"),)),
    Api("POST /workspaces/{workspace_id}/jobs/{job_id}/rerun",
                                                              "401  403  403  403  404  404  403  404  404"),
    Api("POST /workspaces/{workspace_id}/jobs/{job_id}/rerun",
                                                              "401  403  403  403  404  404  403  404  404",
        params=(("job_id", "operator_job"),)),
    Api("POST /workspaces/{workspace_id}/jobs/{job_id}/cancel",
                                                              "401  403  403  403  404  404  404  404  404"),
    Api("POST /workspaces/{workspace_id}/jobs/{job_id}/cancel",
                                                              "401  403  403  403  404  404  409  404  404",
        params=(("job_id", "robot_job"),)),
    Api("GET /workspaces/{workspace_id}/schedule",            "401  200  200  200  200  200  403  404  404"),
    # The API platform: calls (no key: 401, whoever is signed in), collections (project:view on their
    # project to read, which a read grant on one of its recipes gives; project:edit in DEV to change, which
    # the custom role does not hold) and clients (member:manage, as service accounts).
    Page("web:api_call", "POST",                              "401  401  401  401  401  401  401  401  401"),
    Page("web:api_call_root", "GET",                          "401  401  401  401  401  401  401  401  401"),
    Page("web:apis", "GET",                                   "302  200  200  200  200  200  302  404  404"),
    Page("web:api_collection", "GET",                         "302  200  200  200  200  200  302  404  404"),
    Page("web:api_swagger", "GET",                            "302  200  200  200  200  200  302  404  404"),
    Page("web:api_openapi", "GET",                            "302  200  200  200  200  200  302  404  404"),
    # Building collections and endpoints: project:edit in DEV (and recipe:edit on an endpoint's recipe).
    Page("web:api_collection_create", "POST",                 "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"project_id": str(w.p1.id), "name": "More", "slug": "more"}),
    Page("web:api_collection_edit", "POST",                   "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"name": "Renamed", "description": "changed"}),
    Page("web:api_collection_delete", "POST",                 "302  302  302  403  403  403  302  404  404"),
    Page("web:api_endpoint_create", "POST",                   "302  302  302  403  403  403  302  404  404",
        form=lambda w: {"method": "GET", "path": "/more", "recipe_id": str(w.ids["api_recipe"])}),
    Page("web:api_endpoint_edit", "POST",                     "302  302  302  403  403  403  302  404  404",
        form=lambda w: {
            f"e{w.ids['api_endpoint'].hex[:8]}-{name}": value
            for name, value in {"method": "PUT", "path": "/orders/{order_id}",
                                "recipe_id": str(w.ids["api_recipe"]), "timeout_seconds": "10"}.items()
        }),
    Page("web:api_endpoint_delete", "POST",                   "302  302  302  403  403  403  302  404  404"),
    # Clients and their keys: service accounts, so member:view to see them and member:manage to change them.
    Page("web:api_clients", "GET",                            "302  200  403  403  403  403  302  404  404"),
    Page("web:api_client_create", "POST",                     "302  200  403  403  403  403  302  404  404",
        form=lambda w: {"name": "Partner", "collection_ids": [str(w.ids["api_collection"])],
                        "key_name": "first", "expires_in_days": "30"}),
    Page("web:api_client_edit", "POST",                       "302  302  403  403  403  403  302  404  404",
        form=lambda w: {f"c{w.ids['api_client'].hex[:8]}-allowed_sources": "10.0.0.0/8"}),
    Page("web:api_client_key_create", "POST",                 "302  200  403  403  403  403  302  404  404",
        form=lambda w: {f"k{w.ids['api_client'].hex[:8]}-name": "second",
                        f"k{w.ids['api_client'].hex[:8]}-expires_in_days": "30"}),
    Page("web:api_client_key_revoke", "POST",                 "302  302  403  403  403  403  302  404  404"),
    Api("GET /workspaces/{workspace_id}/api-collections",     "401  200  200  200  200  200  403  404  404"),
    Api("POST /workspaces/{workspace_id}/api-collections",    "401  201  201  403  403  403  403  404  404",
        body={"project_id": Ref("project_id"), "name": "More", "slug": "more"}),
    Api("GET /workspaces/{workspace_id}/api-collections/{collection_id}",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("GET /workspaces/{workspace_id}/api-collections/{collection_id}/openapi.json",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("GET /workspaces/{workspace_id}/api-collections/{collection_id}/usage",
                                                              "401  200  200  200  200  200  403  404  404"),
    Api("PATCH /workspaces/{workspace_id}/api-collections/{collection_id}",
                                                              "401  200  200  403  403  403  403  404  404",
        body={"name": "Renamed", "description": "changed"}),
    Api("DELETE /workspaces/{workspace_id}/api-collections/{collection_id}",
                                                              "401  204  204  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/api-collections/{collection_id}/endpoints",
                                                              "401  201  201  403  403  403  403  404  404",
        body={"method": "GET", "path": "/orders", "recipe_id": Ref("api_recipe")}),
    Api("PUT /workspaces/{workspace_id}/api-collections/{collection_id}/endpoints/{endpoint_id}",
                                                              "401  200  200  403  403  403  403  404  404",
        body={"method": "PUT", "path": "/orders/{order_id}", "recipe_id": Ref("api_recipe")}),
    Api("DELETE /workspaces/{workspace_id}/api-collections/{collection_id}/endpoints/{endpoint_id}",
                                                              "401  204  204  403  403  403  403  404  404"),
    Api("GET /workspaces/{workspace_id}/api-clients",         "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/api-clients",        "401  201  403  403  403  403  403  404  404",
        body={"name": "Partner", "collection_ids": [Ref("collection_id")]}),
    Api("PATCH /workspaces/{workspace_id}/api-clients/{client_id}",
                                                              "401  200  403  403  403  403  403  404  404",
        body={"allowed_sources": ["10.0.0.0/8"]}),
    Api("GET /workspaces/{workspace_id}/api-clients/{client_id}/keys",
                                                              "401  200  403  403  403  403  403  404  404"),
    Api("POST /workspaces/{workspace_id}/api-clients/{client_id}/keys",
                                                              "401  201  403  403  403  403  403  404  404",
        body={"name": "second", "expires_in_days": 30}),
    Api("DELETE /workspaces/{workspace_id}/api-clients/{client_id}/keys/{key_id}",
                                                              "401  204  403  403  403  403  403  404  404"),
]
# fmt: on

# How each path parameter is filled, by name: pages use slugs and URL kwargs, the API ids.
PARAMS: dict[str, Callable[[World], Any]] = {
    "workspace": lambda w: w.ws.slug,
    "workspace_id": lambda w: w.ws.id,
    "recipe": lambda w: w.r1.id,
    "recipe_id": lambda w: w.r1.id,
    "role": lambda w: w.custom_role.id,
    "role_id": lambda w: w.custom_role.id,
    "group": lambda w: w.group.id,
    "group_id": lambda w: w.group.id,
    "group_member": lambda w: w.group_member.id,
    "mapping": lambda w: w.ids["group_mapping"],
    "mapping_id": lambda w: w.ids["group_mapping"],
    "grant": lambda w: w.group_grant.id,
    "grant_id": lambda w: w.group_grant.id,
    "account": lambda w: w.robot.id,
    "account_id": lambda w: w.robot.id,
    "token": lambda w: w.robot_token.id,
    "robot_token": lambda w: w.robot_token.id,
    "token_id": lambda w: uuid.uuid4(),
    "token_id_page": lambda w: uuid.uuid4(),
    "passkey_id": lambda w: uuid.uuid4(),
    "invitation": lambda w: w.invitation.id,
    "invitation_id": lambda w: w.invitation.id,
    "platform_invitation": lambda w: w.platform_invitation.id,
    "operator_membership": lambda w: w.operator_membership.id,
    "environment": lambda w: "dev",
    "format": lambda w: "csv",
    "name": lambda w: "MISSING_SECRET",
    "recipe_edit": lambda w: "recipe:edit",
    "project": lambda w: w.p1.id,
    "project_id": lambda w: w.p1.id,
    "empty_project": lambda w: w.p3.id,
    "folder": lambda w: w.f1.id,
    "folder_id": lambda w: w.f1.id,
    "table": lambda w: w.t1.id,
    "table_id": lambda w: w.t1.id,
    "key": lambda w: "k1",
    "number": lambda w: 1,
    "first_version": lambda w: 1,
    "second_version": lambda w: 2,
    "r2": lambda w: w.r2.id,
    "other_recipe": lambda w: w.other_recipe.id,
    "job": lambda w: w.job.id,
    "job_id": lambda w: w.job.id,
    "robot_job": lambda w: w.robot_job.id,
    "operator_job": lambda w: w.operator_job.id,
    "r2_job": lambda w: w.r2_job.id,
    "trigger_job": lambda w: w.trigger_job.id,
    "r4": lambda w: w.r4.id,
    "connection": lambda w: w.ids["personal_connection"],
    "connection_id": lambda w: w.ids["personal_connection"],
    "company_connection": lambda w: w.ids["company_connection"],
    "connector_key": lambda w: "http",
    "profile": lambda w: w.ids["oauth_profile"],
    "profile_id": lambda w: w.ids["oauth_profile"],
    "custom_key": lambda w: "pinger",
    "hook_token": lambda w: "unknown-webhook-token-of-43-characters-xxxxx",
    "promotion_id": lambda w: w.ids["pending_promotion"],
    "break_glass_request": lambda w: w.ids["break_glass_request"],
    "break_glass_session": lambda w: w.ids["break_glass_session"],
    "identity_provider": lambda w: w.ids["identity_provider"],
    "provider_slug": lambda w: "world-idp",
    "unknown_provider": lambda w: "no-such-provider",
    "collection_id": lambda w: w.ids["api_collection"],
    "endpoint_id": lambda w: w.ids["api_endpoint"],
    "client_id": lambda w: w.ids["api_client"],
    "key_id": lambda w: w.ids["api_key"],
    "endpoint": lambda w: w.ids["api_endpoint"],
    "client": lambda w: w.ids["api_client"],
    "api_key": lambda w: w.ids["api_key"],
    "api_recipe": lambda w: w.ids["api_recipe"],
    "owner": lambda w: w.ws.slug,
    "api": lambda w: "orders",
    "collection": lambda w: w.ids["api_collection"],
    "rest": lambda w: "orders/42",
    "handle": lambda w: "0123456789abcdef",
    "session_handle": lambda w: "0123456789abcdef",
}


def _export_file() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("r.json", json.dumps(EXPORT).encode(), content_type="application/json")


def _page_path(row: Page, world: World, pattern: str) -> str:
    overrides = dict(row.params)
    kwargs = {}
    for name in _kwargs_of(pattern):
        if name == "token" and row.name == "web:invitation":
            kwargs[name] = "not-a-live-invitation"
        elif name == "token_id":
            kwargs[name] = str(uuid.uuid4())
        else:
            kwargs[name] = str(PARAMS[overrides.get(name, name)](world))
    return reverse(row.name, kwargs=kwargs)


def _kwargs_of(pattern: str) -> list[str]:
    import re

    return re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", pattern) and [
        a or b for a, b in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", pattern)
    ]


def _api_path(row: Api, world: World) -> tuple[str, str, dict[str, str]]:
    import re

    method, path = row.route.split(" ", 1)
    overrides = dict(row.params)
    filled = re.sub(r"{(\w+)}", lambda m: str(PARAMS[overrides.get(m[1], m[1])](world)), path)
    query = {k: str(PARAMS[v](world)) for k, v in overrides.items() if "{" + k + "}" not in path}
    return method, "/api/v1" + filled, query


def _call(row: Page | Api, actor: str, world: World, patterns: dict[str, str]) -> int:
    client = https_client()
    headers: dict[str, str] = {}
    if isinstance(row, Page):
        if actor not in ("anon", "robot"):
            client.force_login(world.people[actor])
        if actor == "robot":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens['robot']}"
        path = _page_path(row, world, patterns[row.name])
        if row.form is not None:
            response = client.post(path, row.form(world), **headers)
        else:
            response = client.generic(row.method, path, **headers)
        return int(response.status_code)
    method, path, query = _api_path(row, world)
    if actor != "anon":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[actor]}"
    if query:
        from urllib.parse import urlencode

        path += "?" + urlencode(query)
    data = json.dumps(_filled(row.body, world)) if row.body is not None else ""
    response = client.generic(method, path, data, content_type="application/json", **headers)
    return int(response.status_code)


def _filled(body: Any, world: World) -> Any:
    if isinstance(body, Ref):
        return str(PARAMS[body](world))
    if isinstance(body, dict):
        return {k: _filled(v, world) for k, v in body.items()}
    if isinstance(body, list):
        return [_filled(v, world) for v in body]
    return body


def _rolled_back(call: Callable[[], int]) -> int:
    from causeway.vault.keysets import forget_cached_keysets

    with transaction.atomic():
        status = call()
        transaction.set_rollback(True)
    forget_cached_keysets()
    return status


def api_operations() -> set[str]:
    from causeway.api.api import api

    return {
        f"{method} {path}"
        for _, router in api._routers
        for path, view in router.path_operations.items()
        for op in view.operations
        for method in op.methods
    }


def page_names() -> dict[str, str]:
    from django.urls import get_resolver

    from causeway.access.routes import API_DELEGATED, declaration_of

    # API routes whose access their operations declare are rows of `Api`; the others (the API
    # reference) are pages.
    return {
        name: route
        for route, name, callback in walk(get_resolver())
        if not name.startswith("api:") or declaration_of(callback) != API_DELEGATED
    }


def test_every_endpoint_is_in_the_matrix() -> None:
    in_table = {row.key for row in ROWS}
    missing = sorted((set(page_names()) | api_operations()) - in_table)
    assert missing == [], f"endpoints missing from the permission matrix: {missing}"
    stale = sorted(in_table - set(page_names()) - api_operations())
    assert stale == [], f"rows for endpoints that no longer exist: {stale}"
    for row in ROWS:
        assert len(row.expected.split()) == len(ACTORS), row.key


def row_ids(rows: list[Page | Api]) -> list[str]:
    """Each row's test id, in characters `-k` takes: `web:home-GET`, `GET-/workspaces/:workspace_id/roles`,
    then `+name:param` for each parameter the row fills by another name, and `-2`, `-3` for a row that
    repeats an earlier one's endpoint and parameters (with another body)."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for row in rows:
        if isinstance(row, Page):
            base = f"{row.name}-{row.method}"
        else:
            method, path = row.route.split(" ", 1)
            base = f"{method}-" + re.sub(r"{(\w+)}", r":\1", path)
        base += "".join(f"+{name}:{param}" for name, param in row.params)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return ids


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """The world the rows meet, built once for the rows this process runs one after another.

    Building it takes about a second; a row takes a tenth of that. It is never committed: the
    transaction it lives in is rolled back when this process moves on to another module's tests.
    """
    from causeway.workspaces.models import Workspace

    with django_db_blocker.unblock():
        with transaction.atomic():
            built = build_world()
            yield built
            transaction.set_rollback(True)
        assert not Workspace.objects.filter(pk=built.ws.pk).exists(), "the matrix's world outlived its rows"


@pytest.fixture(scope="module")
def patterns() -> dict[str, str]:
    return page_names()


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_permission_matrix(row: Page | Api, world: World, patterns: dict[str, str]) -> None:
    wrong = []
    for actor, want in zip(ACTORS, row.expected.split(), strict=True):
        got = _rolled_back(lambda actor=actor: _call(row, actor, world, patterns))
        if str(got) != want:
            wrong.append(f"{actor:12} expected {want}, got {got}")
        if 200 <= got < 300 and not want.startswith("2"):
            wrong.append(f"{actor:12} a denied call got {got}")
    if wrong:
        label = f"{row.key} {dict(row.params)}" if row.params else row.key
        pytest.fail(f"answers to {label} that differ from the matrix:\n" + "\n".join(wrong), pytrace=False)
