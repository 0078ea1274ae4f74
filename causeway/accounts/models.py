"""Users (standard or staff) and the sessions they hold (their API tokens are `workspaces.ApiToken`).

Profile details are sealed (rule 10): names and email under the platform's keyset, bound to the row.
A user is found by email through `email_index`, a keyed blind index of the normalised address, which
is also what keeps emails unique: a database reader sees neither the addresses nor which user has a
guessed one, since the index is keyed by a key outside the database.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from causeway.audit.services import Actor
from causeway.vault.fields import SealedTextField, blind_index

EMAIL_INDEX_PURPOSE = "accounts.user.email"
# Tink's MAC tags are a 5-byte key prefix and a 32-byte HMAC-SHA256: 74 hex characters.
INDEX_LENGTH = 80


def normalize_email(email: str) -> str:
    """The one spelling of an address that is indexed and compared: stripped and lower-cased."""
    return email.strip().lower()


def email_index(email: str) -> str:
    """The blind index of an email address: look a user up with `User.objects.filter(email_index=...)`."""
    return blind_index(EMAIL_INDEX_PURPOSE, normalize_email(email))


class UserType(models.TextChoices):
    STANDARD = "standard", "Standard"
    STAFF = "staff", "Staff"


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("a user needs an email address")
        user = self.model(email=normalize_email(self.normalize_email(email)), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def with_email(self, email: str) -> models.QuerySet[User]:
        """Users with this address, in any case: at most one, since the index is unique."""
        return self.filter(email_index=email_index(email))

    def get_by_natural_key(self, username: str | None) -> User:
        # Django's ModelBackend calls this with what was typed in the login form's "username".
        return self.get(email_index=email_index(username or ""))


class User(AbstractBaseUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = SealedTextField()
    # Kept in step with `email` by save(); the only column the account is looked up by.
    email_index = models.CharField(max_length=INDEX_LENGTH, unique=True, editable=False)
    first_name = SealedTextField()
    last_name = SealedTextField()
    user_type = models.CharField(max_length=10, choices=UserType.choices, default=UserType.STANDARD)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    # Django's auth needs a unique column naming the account: the email's index is that column.
    # The natural key a person types stays the email (get_username), which get_by_natural_key takes.
    USERNAME_FIELD = "email_index"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email", "first_name", "last_name"]

    def __str__(self) -> str:
        return str(self.email)

    def get_username(self) -> str:
        return str(self.email)

    def natural_key(self) -> tuple[str]:
        return (self.get_username(),)

    def clean(self) -> None:
        # AbstractBaseUser.clean would write the normalised username into USERNAME_FIELD (the index).
        self.email = normalize_email(self.__class__.normalize_username(self.email))

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "email" in update_fields:
            self.email_index = email_index(self.email)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_index"}
        super().save(*args, **kwargs)

    @property
    def is_staff(self) -> bool:
        return self.user_type == UserType.STAFF

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def audit_actor(self) -> Actor:
        return Actor(type="user", id=str(self.id), label=self.email)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("user", str(self.id), self.email)


class UserSession(models.Model):
    """Links a server-side session to its user, so every session of a user can be ended at once."""

    session_key = models.CharField(max_length=40, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    # What the sessions page shows the user: the browser that signed in (its user agent, shortened)
    # and its address, kept as the audit trail keeps addresses, and when it was last used (to the minute).
    device = models.CharField(max_length=200, blank=True, default="")
    address = models.GenericIPAddressField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class SignInDevice(models.Model):
    """A browser and address a user has signed in from, kept as a keyed digest: a sign-in from one not
    seen before is told to the user by email."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_devices")
    digest = models.CharField(max_length=INDEX_LENGTH)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "digest"], name="sign_in_device_once")]

    def __str__(self) -> str:
        return f"sign-in device of {self.user_id}"


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238): its shared secret, sealed, and the last time step used.

    One per user. It is pending until a code from the app confirms it, and only a confirmed one is
    asked for at sign-in. `last_step` refuses a code replayed within its step (or the steps accepted
    around it); `failures` and `locked_until` stop guessing across sign-ins and addresses.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret = SealedTextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"authenticator of {self.user_id}"


class RecoveryCode(models.Model):
    """One single-use recovery code, kept only as a keyed digest (the code is shown once, never stored)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=INDEX_LENGTH, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class Passkey(models.Model):
    """A user's passkey (WebAuthn credential), a second factor like the authenticator app.

    The public key is not a secret and is kept as the authenticator sent it (a COSE key); the row is
    the user's alone: it is only ever looked up through its user. `sign_count` is the authenticator's
    counter as last seen: an assertion that does not raise it (when the authenticator keeps one) comes
    from a copy of the key and is refused.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    # base64url of the credential id the authenticator chose (at most 1023 bytes by the standard).
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"passkey {self.name} of {self.user_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("passkey", str(self.id), self.name)


class IdentityProvider(models.Model):
    """An OpenID Connect provider people may sign in through, configured by staff for the whole platform.

    The client secret is sealed under the platform's keyset, bound to this row (rule 10), and never
    shown again. `trusted_domains` are the email domains the provider is trusted to vouch for: only an
    address in one of them signs in, and only such an address gets an account made at its first sign-in.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    protocol = models.CharField(
        max_length=10, choices=[("oidc", "OpenID Connect"), ("saml", "SAML 2.0")], default="oidc"
    )
    # The provider's name in sign-in addresses (/login/sso/<slug>, /login/saml/<slug>) and on the CLI.
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    # OpenID Connect: the issuer URL; SAML: the identity provider's entity id, read from its metadata.
    issuer = models.CharField(max_length=500)
    client_id = models.CharField(max_length=300, blank=True, default="")
    client_secret = SealedTextField()
    scopes = models.JSONField(default=list)
    # The ID token claim, or the SAML attribute, holding the email.
    email_claim = models.CharField(max_length=100, default="email")
    # SAML: the identity provider's metadata (its entity id, sign-on URL and signing certificate).
    saml_metadata = models.TextField(blank=True, default="")
    trusted_domains = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"identity provider {self.name}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("identity_provider", str(self.id), self.slug)

    @property
    def sign_in_path(self) -> str:
        return f"/login/{'saml' if self.protocol == 'saml' else 'sso'}/{self.slug}"


class SamlAssertionSeen(models.Model):
    """A SAML assertion already used to sign in, kept until it expires so that it is never used twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=256)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "assertion_id"], name="saml_assertion_used_once")
        ]

    def __str__(self) -> str:
        return f"assertion {self.assertion_id} of {self.provider_id}"
