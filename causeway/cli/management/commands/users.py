"""`causeway users`: create, list, disable and enable user accounts from the operator's shell."""

from __future__ import annotations

import getpass
import sys
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.accounts import mfa, passkeys, selectors, sessions
from causeway.accounts import services as accounts
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User, UserType


def _operator() -> SystemActor:
    """Who ran the command, as far as the machine knows, for the audit trail."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return SystemActor(label=f"cli:{name}")


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(message for messages in error.message_dict.values() for message in messages)
    return "; ".join(error.messages)


def _read_password(source: str | None) -> str:
    """From a file (`-` for standard input), or typed twice at a terminal; never from the command line."""
    if source is not None:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            # The path is not echoed: someone who mistook the option may have typed the password there.
            raise CommandError(f"--password-file: cannot read the file given: {exc.strerror}") from None
        # Only the line ending an editor or `echo` adds; other whitespace may be part of the password.
        return text.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise CommandError("--password-file: required when not run at a terminal (use - for standard input)")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise CommandError("Password: the two entries do not match")
    return first


def _user(email: str) -> User:
    user = selectors.user_by_email(email=email)
    if user is None:
        raise CommandError(f"Email: no user has the address {email}")
    return user


class Command(BaseCommand):
    help = "Manage user accounts: create, list, disable, enable, reset a second factor, remove a passkey."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        # No abbreviations: `--password SECRET` must be refused, not read as `--password-file`.
        create = actions.add_parser("create", help="create a user", allow_abbrev=False)
        create.add_argument("--email", required=True)
        create.add_argument("--first", required=True, help="first name (letters only, at least 2)")
        create.add_argument("--last", required=True, help="last name (letters only, at least 1)")
        create.add_argument("--staff", action="store_true", help="a platform administrator")
        create.add_argument(
            "--password-file",
            metavar="PATH",
            help="read the password from this file (- for standard input); prompted for otherwise",
        )
        actions.add_parser("list", help="list every user")
        disable = actions.add_parser("disable", help="disable a user and end all their sessions")
        disable.add_argument("email")
        enable = actions.add_parser("enable", help="let a disabled user sign in again")
        enable.add_argument("email")
        reset = actions.add_parser(
            "mfa-reset",
            help="remove a user's second factor and recovery codes (a lost phone) and end their sessions",
        )
        reset.add_argument("email")
        keys = actions.add_parser("passkeys", help="list a user's passkeys: id, name, added, last used")
        keys.add_argument("email")
        remove = actions.add_parser(
            "passkey-remove", help="remove one of a user's passkeys (a lost device) and end their sessions"
        )
        remove.add_argument("email")
        remove.add_argument("passkey", help="the passkey's id, as `users passkeys` lists it")
        listed = actions.add_parser("sessions", help="list a user's sessions: browser, address, last seen")
        listed.add_argument("email")
        end = actions.add_parser("end-sessions", help="end every session of a user (tokens keep working)")
        end.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                self._create(options)
            elif action == "list":
                self._list()
            elif action == "disable":
                ended = accounts.user_disable(actor=_operator(), user=_user(options["email"]))
                self.stdout.write(
                    f"Disabled {options['email']}; ended {ended} session(s). "
                    "Their API tokens are refused while the account is disabled."
                )
            elif action == "enable":
                user = accounts.user_enable(actor=_operator(), user=_user(options["email"]))
                self.stdout.write(f"Enabled {user.email}.")
            elif action == "mfa-reset":
                ended = mfa.mfa_reset(actor=_operator(), user=_user(options["email"]))
                self.stdout.write(
                    f"Removed the second factor of {options['email']}; ended {ended} session(s). "
                    "They sign in with their password and set up a new one."
                )
            elif action == "passkeys":
                self._passkeys(_user(options["email"]))
            elif action == "passkey-remove":
                self._passkey_remove(_user(options["email"]), options["passkey"])
            elif action == "sessions":
                self._sessions(_user(options["email"]))
            elif action == "end-sessions":
                ended = sessions.sessions_end_of(actor=_operator(), user=_user(options["email"]))
                self.stdout.write(f"Ended {ended} session(s) of {options['email']}.")
        except ValidationError as error:
            raise CommandError(_one_line(error)) from None

    def _passkeys(self, user: User) -> None:
        found = passkeys.passkeys_of(user=user)
        if not found:
            self.stdout.write(f"{user.email} has no passkeys.")
        for key in found:
            used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
            self.stdout.write(
                f"{key.pk}  {key.name}  added {key.created_at.strftime('%Y-%m-%d %H:%M')}  last used {used}"
            )

    def _passkey_remove(self, user: User, passkey_id: str) -> None:
        try:
            wanted = uuid.UUID(passkey_id)
        except ValueError:
            raise ValidationError(
                {"passkey": f"Passkey {passkey_id!r} is not an id: see `users passkeys`."}
            ) from None
        found = passkeys.passkey_of(user=user, passkey_id=wanted)
        if found is None:
            raise ValidationError({"passkey": f"Passkey {passkey_id} is not one of {user.email}'s."})
        ended = passkeys.passkey_reset(actor=_operator(), user=user, passkey=found)
        self.stdout.write(f"Removed passkey {found.name} of {user.email}; ended {ended} session(s).")

    def _sessions(self, user: User) -> None:
        found = sessions.session_list(user=user)
        if not found:
            self.stdout.write(f"{user.email} has no sessions.")
        for session in found:
            seen = session.last_seen_at or session.created_at
            self.stdout.write(
                f"{sessions.session_handle(session)}  {session.device or 'Unknown browser'}  "
                f"{session.address or 'unknown'}  last seen {seen.strftime('%Y-%m-%d %H:%M')}"
            )

    def _create(self, options: dict[str, Any]) -> None:
        password = _read_password(options["password_file"])
        user = accounts.user_create(
            actor=_operator(),
            email=options["email"],
            first_name=options["first"],
            last_name=options["last"],
            password=password,
            user_type=UserType.STAFF if options["staff"] else UserType.STANDARD,
        )
        self.stdout.write(f"Created {user.user_type} user {user.email}.")

    def _list(self) -> None:
        rows = [("EMAIL", "NAME", "TYPE", "STATUS", "MFA", "LAST LOGIN")]
        for user in selectors.user_list():
            last_login = user.last_login.strftime("%Y-%m-%d %H:%M") if user.last_login else "never"
            status = "active" if user.is_active else "disabled"
            second = "on" if mfa.mfa_enrolled(user=user) else "off"
            rows.append((user.email, user.full_name, user.user_type, status, second, last_login))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
