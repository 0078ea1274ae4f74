"""First start: the data directory, the root key, the session-signing secret and a localhost certificate."""

from __future__ import annotations

import os
from pathlib import Path

from causeway.config import env_path


def prepare_home() -> list[str]:
    """Create whatever is missing under the data directory; report what was made."""
    home = env_path("CAUSEWAY_HOME", Path.cwd() / "var")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    from causeway.vault.rootkey import create_root_key_file, create_secret_file
    from causeway.vault.tls import create_self_signed_certificate

    made: list[str] = []
    root_key = env_path("CAUSEWAY_ROOT_KEY_FILE", home / "root-key.json")
    root_elsewhere = {"CAUSEWAY_ROOT_KEY_FILE", "CAUSEWAY_ROOT_KEY", "CAUSEWAY_ROOT_KEY_URI"} & set(
        os.environ
    )
    if not root_elsewhere and create_root_key_file(root_key):
        made.append(f"root key {root_key} (back it up apart from the database)")
    if "CAUSEWAY_SECRET_KEY" not in os.environ:
        secret = env_path("CAUSEWAY_SECRET_KEY_FILE", home / "secret-key.txt")
        if create_secret_file(secret):
            made.append(f"session secret {secret}")
    if "CAUSEWAY_TLS_CERT" not in os.environ and "CAUSEWAY_TLS_KEY" not in os.environ:
        tls = home / "tls"
        if create_self_signed_certificate(tls / "localhost.crt", tls / "localhost.key"):
            made.append(f"self-signed certificate {tls / 'localhost.crt'}")
    return made
