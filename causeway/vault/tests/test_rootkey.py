"""The root key back-ends (file, environment variable, KMS) and their refusals, each one clear line."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import tink
from django.db import connection
from tink import aead

from causeway.vault import keysets, rootkey
from causeway.vault.keysets import workspace_keyring
from causeway.vault.models import Secret, WrappedKeyset
from causeway.vault.rootkey import (
    EnvironmentRootKey,
    FileRootKey,
    KmsRootKey,
    RootKeyError,
    create_root_key_file,
    current_root_key,
    load_root_keyset,
    new_root_keyset_json,
    root_aead,
)
from causeway.vault.rotation import ROOT, key_status, reencrypt, rotate_root_key
from testkit.support import causeway_command

ROOT_DIR = Path(__file__).resolve().parents[3]


class LocalKms(tink.KmsClient):
    """A KMS client whose keys live in this process: a real implementation of Tink's KmsClient
    interface, standing where a cloud KMS's client stands in production."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.keys: dict[str, object] = {}
        self.calls = 0

    def does_support(self, key_uri: str) -> bool:
        return key_uri.startswith(self.scheme)

    def get_aead(self, key_uri: str):
        if not self.does_support(key_uri):
            raise tink.TinkError(f"{key_uri} is not a {self.scheme} key")
        self.calls += 1
        if key_uri not in self.keys:
            self.keys[key_uri] = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM).primitive(
                aead.Aead
            )
        return self.keys[key_uri]


class BrokenKms(LocalKms):
    def get_aead(self, key_uri: str):
        raise tink.TinkError("permission denied on the key")


def plugin_client(key_uri: str) -> LocalKms:
    """The factory a KMS plugin declares under the causeway.kms_clients entry point group."""
    return LocalKms("plugin-kms://")


# The file back-end.


def test_a_missing_root_key_file_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(RootKeyError) as refused:
        load_root_keyset(tmp_path / "absent.json")
    assert str(refused.value) == (
        f"CAUSEWAY_ROOT_KEY_FILE: {tmp_path / 'absent.json'} does not exist "
        "(run `causeway init` to create one)"
    )


def test_a_root_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "root.json"
    create_root_key_file(path)
    path.chmod(0o644)
    with pytest.raises(RootKeyError, match=r"CAUSEWAY_ROOT_KEY_FILE: .* must be readable by its owner only"):
        load_root_keyset(path)


def test_a_root_key_file_that_is_not_a_keyset_is_refused(tmp_path):
    path = tmp_path / "root.json"
    rootkey.write_private_file(path, '{"not": "a keyset"}')
    with pytest.raises(RootKeyError, match=r"CAUSEWAY_ROOT_KEY_FILE: .* is not a Tink AEAD keyset"):
        load_root_keyset(path)
    directory = tmp_path / "dir.json"
    directory.mkdir(mode=0o700)
    with pytest.raises(RootKeyError, match="CAUSEWAY_ROOT_KEY_FILE: cannot read"):
        load_root_keyset(directory)
    not_a_directory = tmp_path / "plain-file"
    not_a_directory.write_text("")
    with pytest.raises(RootKeyError, match=r"CAUSEWAY_ROOT_KEY_FILE: cannot read .*: Not a directory"):
        load_root_keyset(not_a_directory / "root.json")


def test_the_root_key_file_is_created_once_and_reread_when_it_changes(tmp_path):
    path = tmp_path / "root.json"
    assert create_root_key_file(path) is True
    assert create_root_key_file(path) is False
    first = current_root_key(path)
    assert isinstance(first, FileRootKey) and current_root_key(path) is first
    text, new_key = first.keyset_with_new_primary()
    first.replace(text)
    second = current_root_key(path)
    assert second is not first and second.primary_key_id() == new_key
    assert root_aead(path) is second.aead()
    assert rootkey.create_secret_file(tmp_path / "secret.txt") is True
    assert rootkey.create_secret_file(tmp_path / "secret.txt") is False


def test_keys_are_managed_inside_a_keyset(tmp_path):
    root = EnvironmentRootKey(
        tink.json_proto_keyset_format.parse(new_root_keyset_json(), tink.secret_key_access.TOKEN)
    )
    text, new_key = root.keyset_with_new_primary()
    rotated = EnvironmentRootKey(tink.json_proto_keyset_format.parse(text, tink.secret_key_access.TOKEN))
    old_key = next(iter(root.key_ids()))
    assert rotated.key_ids() == {old_key, new_key}
    with pytest.raises(ValueError, match="is the primary key"):
        rotated.keyset_without(new_key)
    with pytest.raises(ValueError, match="is not in the keyset"):
        rotated.keyset_without(1)
    assert root.wrapping_key_id(b"\xff\xff not a protobuf") is None


# The environment variable.


@pytest.mark.django_db
def test_the_variable_wins_over_the_file(settings, tmp_path):
    settings.ROOT_KEY_FILE = tmp_path / "absent.json"
    settings.ROOT_KEY = new_root_keyset_json()
    root = current_root_key()
    assert isinstance(root, EnvironmentRootKey) and root.variable == "CAUSEWAY_ROOT_KEY"
    secret = Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="under the variable")
    keysets.forget_cached_keysets()
    assert Secret.objects.get(pk=secret.pk).value == "under the variable"


def test_the_variable_is_read_from_the_environment_when_settings_do_not_declare_it(settings, monkeypatch):
    settings.ROOT_KEY = None
    settings.ROOT_KEY_URI = None
    monkeypatch.setenv("CAUSEWAY_ROOT_KEY", new_root_keyset_json())
    assert isinstance(current_root_key(), EnvironmentRootKey)


def test_a_variable_that_is_not_a_keyset_is_refused_without_echoing_it(settings):
    settings.ROOT_KEY = '{"primaryKeyId": "oops-this-is-key-material"'
    with pytest.raises(RootKeyError) as refused:
        current_root_key()
    assert (
        str(refused.value) == "CAUSEWAY_ROOT_KEY: the value is not a Tink AEAD keyset in Tink's JSON format"
    )


def test_a_variable_and_a_kms_uri_together_are_refused(settings):
    settings.ROOT_KEY = new_root_keyset_json()
    settings.ROOT_KEY_URI = "local-kms://x"
    with pytest.raises(RootKeyError, match="CAUSEWAY_ROOT_KEY and CAUSEWAY_ROOT_KEY_URI are both set"):
        current_root_key()


# The KMS back-end.


@pytest.mark.django_db
def test_a_kms_key_wraps_the_keysets_through_tinks_kms_client_interface(settings, sink):
    kms = LocalKms(f"local-kms-{uuid.uuid4().hex}://")
    tink.register_kms_client(kms)
    settings.ROOT_KEY_URI = f"{kms.scheme}projects/p/keys/root"
    root = current_root_key()
    assert isinstance(root, KmsRootKey) and root.describe() == f"the KMS key {settings.ROOT_KEY_URI}"
    assert current_root_key() is root and kms.calls == 1  # the client is asked once per process
    workspace = uuid.uuid4()
    secret = Secret.objects.create(workspace_id=workspace, name="a", value="under the kms")
    keysets.forget_cached_keysets()
    assert Secret.objects.get(pk=secret.pk).value == "under the kms"
    wrapped = bytes(WrappedKeyset.objects.get(workspace_id=workspace).wrapped)
    # Only the KMS key opens it: the file's root key does not.
    with pytest.raises(tink.TinkError):
        tink.proto_keyset_format.parse_encrypted(
            wrapped,
            load_root_keyset(Path(settings.ROOT_KEY_FILE)).primitive(aead.Aead),
            keysets.keyset_associated_data(keysets.WORKSPACE_PURPOSE, workspace),
        )
    assert [(u.key_id, u.uses) for u in key_status() if u.purpose == ROOT] == [(None, 1)]
    rotation = rotate_root_key(on_change=sink)
    assert rotation.backend == "kms" and rotation.rewrapped == 1
    assert sink.events[0].details == {"kms": settings.ROOT_KEY_URI}
    assert reencrypt(on_change=sink).rewrapped == 0  # the KMS keeps its own key versions
    keysets.forget_cached_keysets()
    assert Secret.objects.get(pk=secret.pk).value == "under the kms"


@pytest.mark.django_db
def test_a_kms_plugin_declared_as_an_entry_point_plugs_in(settings, tmp_path, monkeypatch):
    dist = tmp_path / "causeway_test_kms-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: causeway-test-kms\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[causeway.kms_clients]\nlocal = causeway.vault.tests.test_rootkey:plugin_client\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.ROOT_KEY_URI = f"plugin-kms://keys/{uuid.uuid4().hex}"
    assert isinstance(current_root_key(), KmsRootKey)
    workspace = uuid.uuid4()
    Secret.objects.create(workspace_id=workspace, name="a", value="via the plugin")
    keysets.forget_cached_keysets()
    assert Secret.objects.get(workspace_id=workspace).value == "via the plugin"


def test_a_failing_kms_plugin_is_named(settings, tmp_path, monkeypatch):
    dist = tmp_path / "causeway_broken_kms-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: causeway-broken-kms\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[causeway.kms_clients]\nbroken = causeway.vault.tests.nowhere:client\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.ROOT_KEY_URI = "broken-kms://k"
    with pytest.raises(RootKeyError, match="CAUSEWAY_ROOT_KEY_URI: the KMS plugin 'broken'"):
        current_root_key()


def test_a_kms_uri_no_client_supports_is_refused(settings):
    settings.ROOT_KEY_URI = "nobody-kms://k"
    with pytest.raises(RootKeyError, match="CAUSEWAY_ROOT_KEY_URI: no KMS client supports nobody-kms://k"):
        current_root_key()


@pytest.mark.parametrize(
    ("uri", "extra"), [("gcp-kms://projects/p/keys/k", "gcpkms"), ("aws-kms://arn:k", "awskms")]
)
def test_cloud_kms_uris_need_tinks_extras(settings, uri, extra):
    settings.ROOT_KEY_URI = uri
    with pytest.raises(
        RootKeyError, match=rf"CAUSEWAY_ROOT_KEY_URI: .* need the tink\[{extra}\] extra installed"
    ):
        current_root_key()


def test_a_kms_that_refuses_the_key_is_named(settings):
    kms = BrokenKms(f"broken-{uuid.uuid4().hex}://")
    tink.register_kms_client(kms)
    settings.ROOT_KEY_URI = f"{kms.scheme}k"
    with pytest.raises(RootKeyError, match=r"the KMS client for .* failed: permission denied on the key"):
        current_root_key()


# A real process, started with the wrong root key or none.


def _run_causeway(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{config['NAME']}"
    else:
        auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
        url = f"postgresql://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"
    environment = dict(os.environ, CAUSEWAY_DATABASE_URL=url, PYTHONPATH=str(ROOT_DIR), **env)
    return subprocess.run(
        causeway_command(*args),
        cwd=ROOT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_a_process_with_the_wrong_root_key_refuses_with_one_line():
    workspace_keyring(uuid.uuid4())
    result = _run_causeway("keys", "status", CAUSEWAY_ROOT_KEY=new_root_keyset_json())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CAUSEWAY_ROOT_KEY: the keyset in the variable does not open the stored" in lines[0]
    assert "wrong root key?" in lines[0]


@pytest.mark.django_db(transaction=True)
def test_a_process_without_its_root_key_refuses_with_one_line(tmp_path):
    missing = tmp_path / "root-key.json"
    result = _run_causeway("keys", "status", CAUSEWAY_ROOT_KEY_FILE=str(missing))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"CommandError: CAUSEWAY_ROOT_KEY_FILE: {missing} does not exist (run `causeway init` to create one)"
    ]


def test_a_failed_replacement_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "root.json"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        rootkey.replace_private_file(target, "new content")
    assert target.is_dir() and [p.name for p in tmp_path.iterdir()] == ["root.json"]


def test_a_new_key_never_reuses_an_id_already_in_the_keyset(monkeypatch):
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    real = tink.new_keyset_handle
    draws = iter([handle])  # the first draw repeats the keyset's own key, as a random draw can

    def drawing(template):
        return next(draws, None) or real(template)

    monkeypatch.setattr(rootkey.tink, "new_keyset_handle", drawing)
    rotated = rootkey.add_primary_key(handle, aead.aead_key_templates.AES256_GCM)
    ids = [k.key_id for k in rotated.keyset_info().key_info]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_a_root_key_file_changed_by_another_process_is_read_again(tmp_path):
    path = tmp_path / "root.json"
    create_root_key_file(path)
    first = current_root_key(path)
    text, new_key = first.keyset_with_new_primary()
    rootkey.replace_private_file(path, text)  # as `causeway keys rotate --root` in another process
    second = current_root_key(path)
    assert second.primary_key_id() == new_key
    assert sum(1 for key in rootkey._cache if key[:2] == ("file", path)) == 1


def test_kms_plugins_are_loaded_once_per_process(settings):
    kms = LocalKms(f"once-{uuid.uuid4().hex}://")
    tink.register_kms_client(kms)
    settings.ROOT_KEY_URI = f"{kms.scheme}first"
    current_root_key()
    assert rootkey._loaded_plugins is True
    settings.ROOT_KEY_URI = f"{kms.scheme}second"
    assert isinstance(current_root_key(), KmsRootKey)
