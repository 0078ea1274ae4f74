"""The API's health operation."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from causeway.access.routes import operation

router = Router(tags=["platform"])


class HealthOut(Schema):
    status: str


@router.get("/health", response=HealthOut, auth=None, summary="Is the service up")
@operation(public=True)
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}
