"""The `causeway` command: prepares the data directory where asked, then runs a management command."""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured

# Commands that create the data directory's keys and certificate before Django starts.
PREPARING_COMMANDS = {"init", "up"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    try:
        if len(argv) > 1 and argv[1] in PREPARING_COMMANDS:
            from causeway.bootstrap import prepare_home

            for made in prepare_home():
                sys.stdout.write(f"Created {made}.\n")
        from django.core.management import execute_from_command_line

        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        # A misconfiguration is the operator's to fix: one line naming the setting, never a traceback.
        sys.stderr.write(f"causeway: {exc}\n")
        raise SystemExit(2) from None
