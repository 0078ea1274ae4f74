"""`causeway sso`: the identity providers people sign in through, from the operator's command line (as
the system actor, who stands in for staff). Every change is audited.

The client secret is read from a file or from standard input, never from the command line: arguments
stay in shell histories and are visible to every user of the machine in the process list.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import identity_providers as providers
from causeway.access.errors import NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands._files import secret_from, split_list
from causeway.cli.management.commands.workspaces import cli_actor, refusal

ON_OFF = {"on": True, "off": False}


def _text_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CommandError(f"metadata-file: cannot read {path}: {reason}") from None


class Command(BaseCommand):
    help = (
        "Identity providers for single sign-on (OpenID Connect, SAML 2.0), as the system actor; changes "
        "are audited."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="the providers (never a client secret)")
        for name, text in (("add", "add a provider"), ("update", "change a provider")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("slug", help="the provider's name in addresses: /login/sso/<slug>")
            sub.add_argument("--name", required=name == "add", help="shown on the login page")
            sub.add_argument("--issuer", required=name == "add", metavar="URL")
            sub.add_argument("--client-id", required=name == "add")
            sub.add_argument(
                "--client-secret-file",
                metavar="PATH",
                required=name == "add",
                help="the client secret, from a file; - for standard input",
            )
            sub.add_argument(
                "--trusted-domains",
                required=name == "add",
                metavar="A,B",
                help="email domains it vouches for",
            )
            sub.add_argument("--scopes", metavar="A,B", help="scopes besides openid (default: email,profile)")
            sub.add_argument("--email-claim", help="the claim holding the email (default: email)")
            if name == "update":
                sub.add_argument(
                    "--enabled", choices=sorted(ON_OFF), help="offer it on the login page or not"
                )
                sub.add_argument(
                    "--metadata-file", metavar="PATH", help="a SAML provider's new metadata (XML)"
                )
        add_saml = actions.add_parser("add-saml", help="add a SAML 2.0 provider from its metadata")
        add_saml.add_argument("slug", help="the provider's name in addresses: /login/saml/<slug>")
        add_saml.add_argument("--name", required=True, help="shown on the login page")
        add_saml.add_argument(
            "--metadata-file", required=True, metavar="PATH", help="the IdP's metadata (XML)"
        )
        add_saml.add_argument(
            "--trusted-domains", required=True, metavar="A,B", help="email domains it vouches for"
        )
        add_saml.add_argument("--email-claim", help="the attribute holding the email (default: email)")
        remove = actions.add_parser("remove", help="remove a provider: nobody signs in through it any more")
        remove.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            self._act(actor, options)
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound:
            raise CommandError(f"identity provider: no provider {options.get('slug')!r}") from None

    def _act(self, actor: Actor, options: dict[str, Any]) -> None:
        action = options["action"]
        out = self.stdout.write
        if action == "list":
            for p in providers.identity_providers_visible(actor):
                state = "enabled" if p.enabled else "disabled"
                out(f"{p.slug}\t{p.name}\t{p.issuer}\t{p.client_id}\t{','.join(p.trusted_domains)}\t{state}")
            return
        if action == "remove":
            found = providers.identity_provider_get(actor, options["slug"])
            providers.identity_provider_delete(actor=actor, provider=found)
            out(f"Removed identity provider {found.slug}.")
            return
        if action == "add-saml":
            created = providers.identity_provider_create_saml(
                actor=actor,
                slug=options["slug"],
                name=options["name"],
                metadata=_text_file(options["metadata_file"]),
                trusted_domains=split_list(options["trusted_domains"]) or [],
                email_claim=options["email_claim"] or "email",
            )
            out(f"Added SAML identity provider {created.slug}: people sign in at {created.sign_in_path}.")
            return
        given: dict[str, Any] = {
            "name": options["name"],
            "issuer": options["issuer"],
            "client_id": options["client_id"],
            "client_secret": secret_from(options["client_secret_file"], options.get("stdin") or sys.stdin),
            "trusted_domains": split_list(options["trusted_domains"]),
            "scopes": split_list(options["scopes"]),
            "email_claim": options["email_claim"],
        }
        if action == "add":
            created = providers.identity_provider_create(
                actor=actor,
                slug=options["slug"],
                **{k: v for k, v in given.items() if v is not None},
            )
            out(f"Added identity provider {created.slug}: people sign in at /login/sso/{created.slug}.")
            return
        found = providers.identity_provider_get(actor, options["slug"])
        metadata = _text_file(options["metadata_file"]) if options["metadata_file"] is not None else None
        changed = providers.identity_provider_update(
            actor=actor,
            provider=found,
            enabled=ON_OFF.get(options["enabled"] or ""),
            metadata=metadata,
            **given,
        )
        out(f"Saved identity provider {changed.slug}.")
