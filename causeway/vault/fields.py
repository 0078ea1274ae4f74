"""Model fields that store sealed values: text, JSON and bytes, each bound to its row and field.

How a sealed field works, and why:

- The column holds the Tink ciphertext (a binary column). Its associated data names the workspace
  (from `workspace_field=`; the platform's keyset when that is None or the row's workspace is NULL),
  the table, the row's primary key and the column. So the primary key must be known before the first
  save: models with sealed fields use `UUIDField(primary_key=True, default=uuid.uuid4)` (a system check
  refuses an auto-increment key).
- `from_db_value` receives no model instance, so it cannot know the row to open the value for. It
  returns the ciphertext wrapped as `StoredCiphertext`; a descriptor keeps that on the instance, a
  `post_init` receiver records the binding the row was loaded with, and the value is opened only when
  the attribute is first read. Rows listed but never read cost no decryption.
- `pre_save` seals with the instance's current binding. A value that was loaded and not replaced is
  written back as it is; one whose row or workspace changed (a copied row) is opened under the old
  binding and sealed again under the new one.
- Nothing but a sealed value reaches the column: `get_prep_value` refuses anything that is not a
  `StoredCiphertext`, so `QuerySet.update(value="x")`, `bulk_update` and raw fixture loading fail
  loudly instead of storing plaintext. Lookups other than `exact` (on a ciphertext) and `isnull` are
  refused, since comparing plaintext in SQL is impossible by design; use `blind_index` for lookups.
- Serialisation (`dumpdata`) writes the ciphertext in base64, never the value; loading such a dump is
  not supported (back up the database itself, with the root key kept apart: see docs/vault.md).
- Every sealed field registers itself, so rotation, re-encryption and `causeway keys status` find every
  sealed column in the project (`sealed_fields()`).
"""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.core import checks
from django.db import models
from django.db.models import signals
from django.db.models.query_utils import DeferredAttribute

from causeway.vault.sealing import (
    Scope,
    SealedValueError,
    blind_index,
    open_,
    open_job_history,
    seal,
    seal_job_history,
)

__all__ = [
    "SealedBinaryField",
    "SealedField",
    "SealedJSONField",
    "SealedTextField",
    "StoredCiphertext",
    "blind_index",
    "sealed_fields",
]


class StoredCiphertext(bytes):
    """Bytes that are a sealed value as stored in its column: the only thing a sealed column accepts."""


class _Unset:
    pass


_UNSET = _Unset()


@dataclass(frozen=True, slots=True, repr=False)
class _Slot:
    """What a sealed attribute holds on an instance: the stored ciphertext, its binding, the value."""

    ciphertext: bytes | None
    scope: Scope | None
    value: Any = _UNSET

    def __repr__(self) -> str:
        # Instances' __dict__ end up in debuggers, tracebacks with locals and log lines: never the value.
        return "<sealed value>"


class SealedAttribute(DeferredAttribute):
    """The descriptor: opens the stored ciphertext at the first read, keeps assigned values as given."""

    field: SealedField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        data = instance.__dict__
        name = self.field.attname
        if name not in data:
            instance.refresh_from_db(fields=[name])
        slot = data[name]
        if not isinstance(slot, _Slot):
            return slot
        if isinstance(slot.value, _Unset):
            assert slot.ciphertext is not None
            scope = slot.scope or self.field.scope_for(instance)
            value = self.field.decode(self.field.open(slot.ciphertext, scope))
            slot = _Slot(slot.ciphertext, scope, value)
            data[name] = slot
        return slot.value

    def __set__(self, instance: Any, value: Any) -> None:
        if value is None:
            instance.__dict__[self.field.attname] = None
        elif isinstance(value, StoredCiphertext):
            instance.__dict__[self.field.attname] = _Slot(bytes(value), None)
        else:
            instance.__dict__[self.field.attname] = _Slot(None, None, self.field.accept(value))


if TYPE_CHECKING:
    _BinaryField = models.BinaryField[Any, Any]
else:
    _BinaryField = models.BinaryField

_registry: list[SealedField] = []


class _LoadedRowBinder:
    """A model's one `post_init` receiver, for all of its sealed fields.

    One receiver per field cost a connect per field each time a migration renders the model again, and
    each connect searches every receiver already connected.
    """

    def __init__(self) -> None:
        self.fields: list[SealedField] = []

    def bind(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        for field in self.fields:
            field._bind_loaded(sender, instance)


# The module Django gives the models it renders from the migrations' state.
HISTORICAL_MODULE = "__fake__"


def sealed_fields() -> list[SealedField]:
    """Every sealed field of every installed model (historical migration models excluded)."""
    found: list[SealedField] = []
    for field in _registry:
        model = field.model
        meta = model._meta
        # all_models, not get_registered_model: a migration that rebuilds an SQLite table makes a
        # temporary "New<Model>" class that is registered nowhere, and get_registered_model raises.
        if not meta.proxy and apps.all_models[meta.app_label].get(meta.model_name or "") is model:
            found.append(field)
    return found


class SealedField(_BinaryField):
    """Base of the sealed fields; subclasses say how a value becomes bytes and back."""

    descriptor_class = SealedAttribute
    mutable_values: ClassVar[bool] = False

    def __init__(
        self, *args: Any, workspace_field: str | None = None, job_history: bool = False, **kwargs: Any
    ) -> None:
        self.workspace_field = workspace_field
        self.job_history = job_history
        super().__init__(*args, **kwargs)

    # How values become bytes; subclasses override.
    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def accept(self, value: Any) -> Any:
        """The value as kept on the instance; TypeError for a value this field cannot hold."""
        raise NotImplementedError

    # Binding and sealing.
    def _workspace_attname(self) -> str | None:
        if self.workspace_field is None:
            return None
        attname: str = getattr(self.model._meta.get_field(self.workspace_field), "attname")  # noqa: B009
        return attname

    def scope_for(self, instance: Any) -> Scope:
        pk = instance.pk
        if pk is None:
            raise SealedValueError(
                Scope(None, self.model._meta.db_table, "(unsaved)", str(self.column)),
                "the row has no primary key yet; give the model a UUID primary key with a default",
            )
        workspace: uuid.UUID | None = None
        attname = self._workspace_attname()
        if attname is not None:
            raw = getattr(instance, attname)
            if raw is not None:
                workspace = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        return Scope(workspace, self.model._meta.db_table, str(pk), str(self.column))

    def seal(self, data: bytes, scope: Scope) -> bytes:
        return seal_job_history(data, scope=scope) if self.job_history else seal(data, scope=scope)

    def open(self, ciphertext: bytes, scope: Scope) -> bytes:
        if self.job_history:
            return open_job_history(ciphertext, scope=scope)
        return open_(ciphertext, scope=scope)

    def ciphertext_for(self, instance: Any) -> StoredCiphertext | None:
        """The ciphertext to store for instance's current value, sealing (again) only when needed."""
        if self.attname not in instance.__dict__:
            getattr(instance, self.attname)
        slot = instance.__dict__[self.attname]
        if slot is None:
            return None
        scope = self.scope_for(instance)
        if (
            slot.ciphertext is not None
            and (slot.scope or scope) == scope
            and (isinstance(slot.value, _Unset) or not self.mutable_values)
        ):
            return StoredCiphertext(slot.ciphertext)
        value = slot.value
        if isinstance(value, _Unset):
            assert slot.ciphertext is not None and slot.scope is not None
            value = self.decode(self.open(slot.ciphertext, slot.scope))
        ciphertext = self.seal(self.encode(value), scope)
        instance.__dict__[self.attname] = _Slot(ciphertext, scope, value)
        return StoredCiphertext(ciphertext)

    # Django's field API.
    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        if cls._meta.abstract:
            return
        # A migration's historical model (or the copy SQLite rebuilds a table through) binds its rows as
        # long as it lives, then goes with its receiver, which it alone holds. Kept for good, every run
        # of the migrations would add its models to each later connect's search and to memory.
        historical = cls.__module__ == HISTORICAL_MODULE
        binder: _LoadedRowBinder | None = cls.__dict__.get("_sealed_binder")
        if binder is None:
            binder = _LoadedRowBinder()
            cls._sealed_binder = binder  # type: ignore[attr-defined]
            signals.post_init.connect(binder.bind, sender=cls, weak=historical)
        binder.fields.append(self)
        if not historical:
            _registry.append(self)

    def _bind_loaded(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        """Record the binding a row was loaded with, so a later change of key or workspace re-seals."""
        slot = instance.__dict__.get(self.attname)
        if not isinstance(slot, _Slot) or slot.ciphertext is None or slot.scope is not None:
            return
        attname = self._workspace_attname()
        needed = [instance._meta.pk.attname] + ([attname] if attname else [])
        if all(name in instance.__dict__ for name in needed):
            instance.__dict__[self.attname] = _Slot(slot.ciphertext, self.scope_for(instance))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = [*super().check(**kwargs)]
        pk = self.model._meta.pk
        if pk is not None and (isinstance(pk, models.AutoField) or not pk.has_default()):
            errors.append(
                checks.Error(
                    "a sealed field binds its value to the row, so the primary key must be known before "
                    "the first save: use UUIDField(primary_key=True, default=uuid.uuid4)",
                    obj=self,
                    id="vault.E001",
                )
            )
        if self.workspace_field is not None:
            try:
                self.model._meta.get_field(self.workspace_field)
            except Exception:
                errors.append(
                    checks.Error(
                        f"workspace_field {self.workspace_field!r} is not a field of this model",
                        obj=self,
                        id="vault.E002",
                    )
                )
        if self.job_history and self.workspace_field is None:
            errors.append(
                checks.Error(
                    "job history is sealed per workspace: set workspace_field", obj=self, id="vault.E003"
                )
            )
        return errors

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.workspace_field is not None:
            kwargs["workspace_field"] = self.workspace_field
        if self.job_history:
            kwargs["job_history"] = True
        return name, path, args, kwargs

    def get_default(self) -> Any:
        if self.has_default():
            return super().get_default()
        return None if self.null else self.empty_value()

    def empty_value(self) -> Any:
        return None

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> StoredCiphertext | None:
        if value is None:
            return None
        return StoredCiphertext(bytes(value))

    def pre_save(self, model_instance: Any, add: bool) -> StoredCiphertext | None:
        return self.ciphertext_for(model_instance)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, StoredCiphertext):
            return value
        raise TypeError(
            f"refusing an unsealed value for {self.model._meta.db_table}.{self.column}: a sealed column "
            "holds only what Model.save() sealed (not update(), bulk_update(), raw loading or a lookup "
            "by value; find rows by value through blind_index)"
        )

    def to_python(self, value: Any) -> Any:
        return value

    def value_from_object(self, obj: Any) -> Any:
        return self.ciphertext_for(obj)

    def value_to_string(self, obj: Any) -> str:
        ciphertext = self.ciphertext_for(obj)
        return "" if ciphertext is None else b64encode(ciphertext).decode("ascii")

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in ("exact", "isnull"):
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, name: str) -> Any:
        return None

    def formfield(self, **kwargs: Any) -> Any:
        return None


class SealedTextField(SealedField):
    description = "Text sealed with AES-256-GCM, bound to its row"

    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")

    def accept(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{self.name} holds text, not {type(value).__name__}")
        return value

    def empty_value(self) -> Any:
        return ""


class SealedBinaryField(SealedField):
    description = "Bytes sealed with AES-256-GCM, bound to their row"

    def encode(self, value: Any) -> bytes:
        return bytes(value)

    def decode(self, data: bytes) -> bytes:
        return data

    def accept(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.name} holds bytes, not {type(value).__name__}")
        return bytes(value)

    def empty_value(self) -> Any:
        return b""


class SealedJSONField(SealedField):
    """JSON sealed as one value. The object read back may be changed in place; saving re-seals it."""

    description = "JSON sealed with AES-256-GCM, bound to its row"
    mutable_values = True

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, cls=self.encoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"), object_hook=self.decoder)

    def accept(self, value: Any) -> Any:
        self.encode(value)  # refuse what cannot be stored now, not at some later save
        return value

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs
