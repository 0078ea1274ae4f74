"""The root key: the key-encryption key outside the database — a file, an environment variable or a KMS.

Exactly one back-end is active. `CAUSEWAY_ROOT_KEY` (a Tink keyset in Tink's JSON format) wins over the
file; `CAUSEWAY_ROOT_KEY_URI` selects a key held by an external KMS, reached through Tink's `KmsClient`
interface; otherwise the keyset in `CAUSEWAY_ROOT_KEY_FILE` is used. Setting both the variable and the
URI is refused, since which of the two wraps the keysets must never be a guess.

A KMS plugs in three ways, tried in this order: a client already registered with
`tink.register_kms_client`; a distribution that declares an entry point in the `causeway.kms_clients`
group, whose object is called with the key URI and returns a `tink.KmsClient`; Tink's own Google Cloud
(`gcp-kms://`) and AWS (`aws-kms://`) clients, when the `tink[gcpkms]` or `tink[awskms]` extra is
installed (credentials come from the cloud's usual environment).
"""

from __future__ import annotations

import abc
import hashlib
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import tink
from tink import aead, mac, secret_key_access
from tink.proto import tink_pb2

aead.register()
mac.register()

ENV_VARIABLE = "CAUSEWAY_ROOT_KEY"
URI_VARIABLE = "CAUSEWAY_ROOT_KEY_URI"
FILE_VARIABLE = "CAUSEWAY_ROOT_KEY_FILE"
KMS_ENTRY_POINT_GROUP = "causeway.kms_clients"
ROOT_KEY_TEMPLATE = aead.aead_key_templates.AES256_GCM

# Tink's TINK output prefix: one version byte, then the 4-byte id of the key that made the ciphertext.
TINK_PREFIX_BYTE = 0x01
PREFIX_SIZE = 5

_lock = threading.Lock()
_cache: dict[tuple[object, ...], RootKey] = {}
_loaded_plugins = False


class RootKeyError(Exception):
    """The root key is missing, unreadable, not a Tink keyset, or not the key that wrapped the keysets."""


def prefix_key_id(ciphertext: bytes) -> int | None:
    """The key id a Tink ciphertext (or tag) names in its 5-byte prefix; None when it has no such prefix."""
    if len(ciphertext) < PREFIX_SIZE or ciphertext[0] != TINK_PREFIX_BYTE:
        return None
    return int.from_bytes(ciphertext[1:PREFIX_SIZE], "big")


def write_private_file(path: Path, content: str) -> None:
    """Create a file readable by its owner alone; refuse to overwrite one that exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def replace_private_file(path: Path, content: str) -> None:
    """Replace a file's content atomically: readers see the old file or the new one, never half of one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def new_root_keyset_json() -> str:
    handle = tink.new_keyset_handle(ROOT_KEY_TEMPLATE)
    text: str = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    return text


def create_root_key_file(path: Path) -> bool:
    """Generate a new root keyset at path unless one is there; True when one was made."""
    if path.exists():
        return False
    write_private_file(path, new_root_keyset_json())
    return True


def create_secret_file(path: Path) -> bool:
    if path.exists():
        return False
    write_private_file(path, secrets.token_urlsafe(64))
    return True


class RootKey(abc.ABC):
    """One back-end of the root key. `variable` names the setting an operator fixes when it fails."""

    variable: str

    @abc.abstractmethod
    def aead(self) -> Any:
        """The AEAD primitive that wraps and unwraps keysets (a `tink.aead.Aead`)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the key is, for messages; never any key material."""


@dataclass(frozen=True)
class _KeysetInfo:
    primary: int
    ids: frozenset[int]


class KeysetRootKey(RootKey):
    """A root key that is a Tink AES-256-GCM keyset Causeway can read (the file and variable back-ends)."""

    def __init__(self, handle: tink.KeysetHandle, *, variable: str) -> None:
        self.variable = variable
        self._handle = handle
        self._aead = handle.primitive(aead.Aead)
        info = handle.keyset_info()
        self._info = _KeysetInfo(
            primary=int(info.primary_key_id), ids=frozenset(int(k.key_id) for k in info.key_info)
        )

    def aead(self) -> Any:
        return self._aead

    def describe(self) -> str:
        return "the keyset in the variable"

    def key_ids(self) -> frozenset[int]:
        """The ids of the keys in the root keyset (a KMS does not show them, so only here)."""
        return self._info.ids

    def primary_key_id(self) -> int:
        return self._info.primary

    def wrapping_key_id(self, wrapped: bytes) -> int | None:
        """The root key id that wrapped a stored keyset, read from the wrapped bytes."""
        try:
            encrypted = tink_pb2.EncryptedKeyset.FromString(wrapped)
        except Exception:  # a protobuf DecodeError: not a wrapped keyset at all
            return None
        return prefix_key_id(bytes(encrypted.encrypted_keyset))

    def keyset_with_new_primary(self) -> tuple[str, int]:
        """This keyset plus a fresh key made primary (Tink's JSON format), and that key's id.

        The old keys stay in it, so keysets wrapped under them still open until they are re-wrapped.
        """
        rotated = add_primary_key(self._handle, ROOT_KEY_TEMPLATE)
        return _to_json(rotated), int(rotated.keyset_info().primary_key_id)

    def keyset_without(self, key_id: int) -> str:
        return _to_json(remove_key(self._handle, key_id))


class FileRootKey(KeysetRootKey):
    """The embedded default: a 0600 file under the data directory, created by `causeway init`."""

    def __init__(self, handle: tink.KeysetHandle, *, path: Path) -> None:
        super().__init__(handle, variable=FILE_VARIABLE)
        self.path = path

    def describe(self) -> str:
        return f"the keyset in {self.path}"

    def replace(self, keyset_json: str) -> None:
        replace_private_file(self.path, keyset_json)
        forget_cached_keys()


class EnvironmentRootKey(KeysetRootKey):
    def __init__(self, handle: tink.KeysetHandle) -> None:
        super().__init__(handle, variable=ENV_VARIABLE)


class KmsRootKey(RootKey):
    """A key held by an external KMS; every wrap and unwrap is a call to it, so keysets are cached above."""

    def __init__(self, uri: str, kms_aead: Any) -> None:
        self.variable = URI_VARIABLE
        self.uri = uri
        self._aead = kms_aead

    def aead(self) -> Any:
        return self._aead

    def describe(self) -> str:
        return f"the KMS key {self.uri}"


def add_primary_key(handle: tink.KeysetHandle, template: Any) -> tink.KeysetHandle:
    """A copy of the keyset with one new key from template, made primary."""
    keyset = _to_proto(handle)
    taken = {key.key_id for key in keyset.key}
    while True:
        fresh = _to_proto(tink.new_keyset_handle(template)).key[0]
        if fresh.key_id not in taken:  # Tink draws ids at random; two keys of one keyset must differ
            break
    keyset.key.append(fresh)
    keyset.primary_key_id = fresh.key_id
    return _from_proto(keyset)


def remove_key(handle: tink.KeysetHandle, key_id: int) -> tink.KeysetHandle:
    keyset = _to_proto(handle)
    if key_id == keyset.primary_key_id:
        raise ValueError(f"key {key_id} is the primary key")
    kept = [key for key in keyset.key if key.key_id != key_id]
    if len(kept) == len(keyset.key):
        raise ValueError(f"key {key_id} is not in the keyset")
    del keyset.key[:]
    keyset.key.extend(kept)
    return _from_proto(keyset)


def _to_proto(handle: tink.KeysetHandle) -> Any:
    return tink_pb2.Keyset.FromString(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))


def _from_proto(keyset: Any) -> tink.KeysetHandle:
    return tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)


def _to_json(handle: tink.KeysetHandle) -> str:
    text: str = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    return text


def _parse_keyset(text: str, *, variable: str, where: str) -> tink.KeysetHandle:
    try:
        handle = tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
        handle.primitive(aead.Aead)
    except (tink.TinkError, ValueError):
        # The parser's own message may quote the text it choked on, which is key material.
        raise RootKeyError(f"{variable}: {where} is not a Tink AEAD keyset in Tink's JSON format") from None
    return handle


def load_root_keyset(path: Path) -> tink.KeysetHandle:
    """The keyset in the root key file, checked: present, private to its owner, a Tink AEAD keyset."""
    return _file_root_key(path)._handle


def _file_root_key(path: Path) -> FileRootKey:
    try:
        status = path.stat()
    except FileNotFoundError:
        raise RootKeyError(
            f"{FILE_VARIABLE}: {path} does not exist (run `causeway init` to create one)"
        ) from None
    except OSError as exc:
        raise RootKeyError(f"{FILE_VARIABLE}: cannot read {path}: {exc.strerror}") from None
    # The cache is keyed by the file's identity and age, so a rotation written by another process is
    # picked up at the next use instead of at the next restart.
    key = ("file", path, status.st_ino, status.st_mtime_ns, status.st_size)
    with _lock:
        cached = _cache.get(key)
    if isinstance(cached, FileRootKey):
        return cached
    if status.st_mode & 0o077:
        raise RootKeyError(f"{FILE_VARIABLE}: {path} must be readable by its owner only (mode 0600)")
    try:
        text = path.read_text()
    except OSError as exc:
        raise RootKeyError(f"{FILE_VARIABLE}: cannot read {path}: {exc.strerror}") from None
    root = FileRootKey(_parse_keyset(text, variable=FILE_VARIABLE, where=str(path)), path=path)
    with _lock:
        for stale in [k for k in _cache if k[:2] == ("file", path)]:
            del _cache[stale]
        _cache[key] = root
    return root


def _environment_root_key(text: str) -> EnvironmentRootKey:
    key = ("env", hashlib.sha256(text.encode()).digest())
    with _lock:
        cached = _cache.get(key)
    if isinstance(cached, EnvironmentRootKey):
        return cached
    root = EnvironmentRootKey(_parse_keyset(text, variable=ENV_VARIABLE, where="the value"))
    with _lock:
        _cache[key] = root
    return root


def _register_plugin_clients(uri: str) -> None:
    global _loaded_plugins
    if _loaded_plugins:
        return
    for entry_point in metadata.entry_points(group=KMS_ENTRY_POINT_GROUP):
        try:
            factory = entry_point.load()
            tink.register_kms_client(factory(uri))
        except Exception as exc:
            raise RootKeyError(
                f"{URI_VARIABLE}: the KMS plugin {entry_point.name!r} ({entry_point.value}) failed: {exc}"
            ) from None
    _loaded_plugins = True


def _builtin_client(uri: str) -> Any:
    if uri.startswith("gcp-kms://"):
        extra, module = "gcpkms", "tink.integration.gcpkms"
    elif uri.startswith("aws-kms://"):
        extra, module = "awskms", "tink.integration.awskms"
    else:
        return None
    try:
        integration = __import__(module, fromlist=["_"])
    except Exception:  # Tink raises a plain ImportError-like error when the extra is missing
        raise RootKeyError(
            f"{URI_VARIABLE}: {uri.split('://')[0]}:// keys need the tink[{extra}] extra installed"
        ) from None
    # Reached only with a cloud extra installed, which the test environment does not have.
    if extra == "gcpkms":  # pragma: no cover
        return integration.GcpKmsClient(uri, None)
    return integration.AwsKmsClient(uri, None)  # pragma: no cover


def _kms_root_key(uri: str) -> KmsRootKey:
    key = ("kms", uri)
    with _lock:
        cached = _cache.get(key)
    if isinstance(cached, KmsRootKey):
        return cached
    _register_plugin_clients(uri)
    try:
        client = tink.kms_client_from_uri(uri)
    except tink.TinkError:
        client = _builtin_client(uri)
    if client is None:
        raise RootKeyError(
            f"{URI_VARIABLE}: no KMS client supports {uri} (install one that declares a "
            f"{KMS_ENTRY_POINT_GROUP} entry point, or use gcp-kms:// or aws-kms://)"
        )
    try:
        root = KmsRootKey(uri, client.get_aead(uri))
    except Exception as exc:
        raise RootKeyError(f"{URI_VARIABLE}: the KMS client for {uri} failed: {exc}") from None
    with _lock:
        _cache[key] = root
    return root


def _configured(name: str, env_name: str) -> str:
    from django.conf import settings

    # Settings own the configuration; the environment is read directly only while settings do not
    # declare the value yet, so a process configured either way selects the same back-end.
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(env_name, "")
    return str(value).strip()


def current_root_key(file_path: Path | None = None) -> RootKey:
    """The configured root key; RootKeyError with one line naming the variable to fix."""
    keyset_text = _configured("ROOT_KEY", ENV_VARIABLE)
    uri = _configured("ROOT_KEY_URI", URI_VARIABLE)
    if keyset_text and uri:
        raise RootKeyError(f"{ENV_VARIABLE} and {URI_VARIABLE} are both set: choose one root key")
    if keyset_text:
        return _environment_root_key(keyset_text)
    if uri:
        return _kms_root_key(uri)
    if file_path is None:
        from django.conf import settings

        file_path = Path(settings.ROOT_KEY_FILE)
    return _file_root_key(file_path)


def root_aead(path: Path | None = None) -> Any:
    """The configured root key's AEAD. path names the file back-end's file; the variable and KMS win."""
    return current_root_key(path).aead()


def forget_cached_keys() -> None:
    global _loaded_plugins
    with _lock:
        _cache.clear()
        _loaded_plugins = False
