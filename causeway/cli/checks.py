"""Causeway's own start-up checks: root key, TLS certificate, private data directory, well-formed settings."""

from __future__ import annotations

import os
import stat
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.utils.module_loading import import_string

from causeway.vault.keysets import check_root_key
from causeway.vault.rootkey import RootKeyError, current_root_key
from causeway.vault.tls import server_tls_context


def _database_exists() -> bool:
    config = connection.settings_dict
    return connection.vendor != "sqlite" or Path(str(config["NAME"])).exists()


@register(Tags.security, deploy=True)
def root_key_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        current_root_key()
        # With a database to look in, every stored keyset must open under this root key, so
        # another valid but wrong root key is refused before anything is written. A SQLite file
        # that does not exist yet is not created just to look.
        if _database_exists():
            check_root_key()
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


def _https_origin(value: str, *, path_allowed: bool) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        return False
    return path_allowed or parts.path in ("", "/")


def _settings_errors() -> list[str]:
    """The string-valued settings that the settings module takes as given, checked before any use."""
    errors = []
    if not settings.ALLOWED_HOSTS:
        errors.append("CAUSEWAY_ALLOWED_HOSTS: must name at least one host")
    for origin in settings.CSRF_TRUSTED_ORIGINS:
        if not _https_origin(origin, path_allowed=False):
            errors.append(f"CAUSEWAY_CSRF_TRUSTED_ORIGINS: {origin!r} is not an https://host[:port] origin")
    if not _https_origin(settings.BASE_URL, path_allowed=True):
        errors.append(f"CAUSEWAY_BASE_URL: expected an https:// URL, got {settings.BASE_URL!r}")
    try:
        import_string(settings.EMAIL_BACKEND)
    except ImportError:
        errors.append(f"CAUSEWAY_EMAIL_BACKEND: cannot import {settings.EMAIL_BACKEND!r}")
    try:
        validate_email(parseaddr(settings.DEFAULT_FROM_EMAIL)[1])
    except ValidationError:
        errors.append(f"CAUSEWAY_EMAIL_FROM: {settings.DEFAULT_FROM_EMAIL!r} is not an email address")
    return errors


@register(Tags.security, deploy=True)
def settings_well_formed(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [Error(message, id="causeway.E004") for message in _settings_errors()]
