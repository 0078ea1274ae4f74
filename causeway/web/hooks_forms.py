"""The Webhook page's form: the signing secret a connector's provider issued, read and never shown again."""

from __future__ import annotations

from causeway.web.forms import PageForm, text


class WebhookSecretForm(PageForm):
    secret = text()
