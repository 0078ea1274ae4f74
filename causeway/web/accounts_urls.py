"""Routes for signing in and out, the profile, passwords and personal API tokens."""

from __future__ import annotations

from django.urls import path

from causeway.web import accounts_views, mfa_views, password_reset_views, sessions_views, sso_views

urlpatterns = [
    path("login", accounts_views.login_view, name="login"),
    path("login/second-factor", mfa_views.login_mfa_view, name="login_mfa"),
    path("login/second-factor/passkey", mfa_views.login_mfa_passkey_view, name="login_mfa_passkey"),
    path("login/sso/<slug:provider>", sso_views.sso_login_view, name="sso_login"),
    path("login/sso/<slug:provider>/callback", sso_views.sso_callback_view, name="sso_callback"),
    path("login/saml/<slug:provider>", sso_views.saml_login_view, name="saml_login"),
    path("login/saml/<slug:provider>/acs", sso_views.saml_acs_view, name="saml_acs"),
    path("login/saml/<slug:provider>/metadata", sso_views.saml_metadata_view, name="saml_metadata"),
    path("reauthenticate", mfa_views.reauthenticate_view, name="reauthenticate"),
    path("logout", accounts_views.logout_view, name="logout"),
    path("password-reset", password_reset_views.password_reset_view, name="password_reset"),
    path(
        "password-reset/<str:token>",
        password_reset_views.password_reset_confirm_view,
        name="password_reset_confirm",
    ),
    path("profile", accounts_views.profile_view, name="profile"),
    path("profile/password", accounts_views.password_change_view, name="password_change"),
    path("profile/two-factor", mfa_views.mfa_view, name="mfa"),
    path("profile/two-factor/start", mfa_views.mfa_start_view, name="mfa_start"),
    path("profile/two-factor/confirm", mfa_views.mfa_confirm_view, name="mfa_confirm"),
    path("profile/two-factor/recovery-codes", mfa_views.mfa_recovery_codes_view, name="mfa_recovery_codes"),
    path("profile/two-factor/disable", mfa_views.mfa_disable_view, name="mfa_disable"),
    path("profile/two-factor/passkeys", mfa_views.mfa_passkey_add_view, name="mfa_passkey_add"),
    path(
        "profile/two-factor/passkeys/<uuid:passkey_id>/rename",
        mfa_views.mfa_passkey_rename_view,
        name="mfa_passkey_rename",
    ),
    path(
        "profile/two-factor/passkeys/<uuid:passkey_id>/remove",
        mfa_views.mfa_passkey_remove_view,
        name="mfa_passkey_remove",
    ),
    path("profile/sessions", sessions_views.sessions_view, name="sessions"),
    path("profile/sessions/<str:handle>/end", sessions_views.session_end_view, name="session_end"),
    path("tokens", accounts_views.tokens_view, name="tokens"),
    path("tokens/<uuid:token_id>/revoke", accounts_views.token_revoke_view, name="token_revoke"),
]
