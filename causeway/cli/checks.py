"""Causeway's own start-up checks: root key, TLS certificate, a private data directory."""

from __future__ import annotations

import os
import stat
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from causeway.vault.rootkey import RootKeyError, load_root_keyset
from causeway.vault.tls import server_tls_context


@register(Tags.security, deploy=True)
def root_key_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        load_root_keyset(settings.ROOT_KEY_FILE)
    except RootKeyError as exc:
        return [Error(str(exc), id="causeway.E001")]
    return []


@register(Tags.security, deploy=True)
def tls_certificate_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        server_tls_context(settings.TLS_CERT, settings.TLS_KEY)
    except (OSError, ValueError) as exc:
        return [
            Error(
                f"CAUSEWAY_TLS_CERT/CAUSEWAY_TLS_KEY: cannot load {settings.TLS_CERT} with "
                f"{settings.TLS_KEY}: {exc}",
                id="causeway.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def data_directory_private(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    home = settings.HOME
    if home.exists() and os.stat(home).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            Error(
                f"CAUSEWAY_HOME: {home} must be accessible by its owner only (mode 0700)", id="causeway.E003"
            )
        ]
    return []
