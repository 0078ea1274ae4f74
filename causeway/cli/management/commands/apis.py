"""`causeway apis`: API collections, their endpoints, and the clients that call them, with their keys.

A key is printed once, on standard output, and kept only as a digest.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.apiplat import services
from causeway.cli.management.commands._access import cli_actor, run, workspace_of


def _json_argument(value: str | None, name: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise CommandError(f"{name}: not JSON") from None


def _endpoint_given(options: dict[str, Any]) -> dict[str, Any]:
    """An endpoint's fields from the command line, for a new endpoint and a changed one alike."""
    return {
        "method": options["method"].upper(),
        "path": options["path"],
        "recipe": options["recipe"],
        "request_schema": _json_argument(options["request_schema"], "--request-schema"),
        "response_schema": _json_argument(options["response_schema"], "--response-schema"),
        "query_parameters": options["query"],
        "headers": options["header"],
        "timeout_seconds": options["timeout"],
    }


class Command(BaseCommand):
    help = "API collections, endpoints, clients and keys of a workspace. Every change is audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, extra in (
            ("list", ()),
            ("create", ("project", "name", "slug")),
            ("rename", ("collection", "name")),
            ("delete", ("collection",)),
            ("endpoint-add", ("collection", "method", "path", "recipe")),
            ("endpoint-change", ("collection", "endpoint", "method", "path", "recipe")),
            ("endpoint-remove", ("collection", "endpoint")),
            ("clients", ()),
            ("client-create", ("name",)),
            ("key", ("client",)),
            ("revoke", ("client", "key")),
        ):
            sub = actions.add_parser(name)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            for arg in extra:
                sub.add_argument(arg, metavar=arg.upper())
            if name == "rename":
                sub.add_argument("--description", default=None, help="a new description")
            if name in ("endpoint-add", "endpoint-change"):
                sub.add_argument("--request-schema", help="a JSON Schema of the body, as JSON")
                sub.add_argument("--response-schema", help="a JSON Schema of the answer, as JSON")
                sub.add_argument("--query", action="append", default=[], help="a query parameter it sees")
                sub.add_argument("--header", action="append", default=[], help="a header it sees")
                sub.add_argument("--timeout", type=int, default=None, help="seconds, 1 to 300")
            if name == "client-create":
                sub.add_argument("--collection", action="append", default=[], help="a collection's id")
                sub.add_argument("--source", action="append", default=[], help="an address or network")
            if name == "key":
                sub.add_argument("--name", dest="key_name", required=True)
                sub.add_argument("--days", type=int, required=True, help="1 to 365")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "list":
            for collection in services.collection_list(actor=actor, workspace=workspace):
                self.stdout.write(
                    f"{collection.name}\t{collection.id}\t/{collection.slug}\t{collection.project.name}"
                )
                for endpoint in collection.endpoints.all():
                    self.stdout.write(
                        f"  {endpoint.method} {endpoint.path}\t{endpoint.id}\t{endpoint.recipe.name}"
                    )
        elif action == "create":
            made = run(
                lambda: services.collection_create(
                    actor=actor,
                    workspace=workspace,
                    project=options["project"],
                    name=options["name"],
                    slug=options["slug"],
                )
            )
            self.stdout.write(f"Created API collection {made.name} ({made.id}).")
        elif action in ("rename", "delete", "endpoint-add", "endpoint-change", "endpoint-remove"):
            collection = run(
                lambda: services.collection_get(actor=actor, workspace=workspace, ref=options["collection"])
            )
            if action == "rename":
                description = options["description"]
                changed = run(
                    lambda: services.collection_update(
                        actor=actor,
                        collection=collection,
                        name=options["name"],
                        description=collection.description if description is None else description,
                    )
                )
                self.stdout.write(f"Renamed API collection {collection.name} to {changed.name}.")
            elif action == "delete":
                run(lambda: services.collection_delete(actor=actor, collection=collection))
                self.stdout.write(f"Deleted API collection {collection.name}.")
            elif action == "endpoint-add":
                given = _endpoint_given(options)
                endpoint = run(lambda: services.endpoint_create(actor=actor, collection=collection, **given))
                self.stdout.write(f"Added {endpoint.method} {endpoint.path} ({endpoint.id}).")
            elif action == "endpoint-change":
                given = _endpoint_given(options)
                endpoint = run(
                    lambda: services.endpoint_get(actor=actor, collection=collection, ref=options["endpoint"])
                )
                changed_endpoint = run(
                    lambda: services.endpoint_update(actor=actor, endpoint=endpoint, **given)
                )
                self.stdout.write(
                    f"Changed {changed_endpoint.method} {changed_endpoint.path} ({endpoint.id})."
                )
            else:
                endpoint = run(
                    lambda: services.endpoint_get(actor=actor, collection=collection, ref=options["endpoint"])
                )
                run(lambda: services.endpoint_delete(actor=actor, endpoint=endpoint))
                self.stdout.write(f"Removed {endpoint.method} {endpoint.path}.")
        elif action == "clients":
            for client in services.client_list(actor=actor, workspace=workspace):
                names = ", ".join(c.name for c in client.collections.all()) or "no collections"
                sources = ", ".join(client.allowed_sources) or "any address"
                self.stdout.write(f"{client.service_account.name}\t{client.id}\t{names}\t{sources}")
        elif action == "client-create":
            client = run(
                lambda: services.client_create(
                    actor=actor,
                    workspace=workspace,
                    name=options["name"],
                    collection_ids=options["collection"],
                    allowed_sources=options["source"],
                )
            )
            self.stdout.write(f"Created API client {client.service_account.name} ({client.id}).")
        else:
            client = run(lambda: services.client_get(actor=actor, workspace=workspace, ref=options["client"]))
            if action == "key":
                key, secret = run(
                    lambda: services.client_key_issue(
                        actor=actor, client=client, name=options["key_name"], expires_in_days=options["days"]
                    )
                )
                self.stderr.write(f"Key {key.name} expires {key.expires_at:%Y-%m-%d}; it is shown only now.")
                self.stdout.write(secret)
            else:
                key = run(lambda: services.client_key_get(actor=actor, client=client, ref=options["key"]))
                run(lambda: services.client_key_revoke(actor=actor, client=client, key=key))
                self.stdout.write(f"Key {key.name} revoked.")
