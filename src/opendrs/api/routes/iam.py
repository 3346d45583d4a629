"""IAM-style identity: project-scoped tokens (POST /v3/auth/tokens) and project lookup."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from opendrs.api.auth import Principal, issue_token
from opendrs.api.deps import Svc, authenticate
from opendrs.api.wire.base import WireModel
from opendrs.errors import InvalidProject, InvalidToken
from opendrs.store.identity import IdentityRepo

router = APIRouter(tags=["iam"])


class _Domain(WireModel):
    name: str | None = None
    id: str | None = None


class _User(WireModel):
    name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    domain: _Domain | None = None


class _PasswordMethod(WireModel):
    user: _User


class _Identity(WireModel):
    methods: list[str] = Field(min_length=1)
    password: _PasswordMethod


class _Project(WireModel):
    name: str | None = None
    id: str | None = None


class _Scope(WireModel):
    project: _Project


class _Auth(WireModel):
    identity: _Identity
    scope: _Scope


class TokenRequest(WireModel):
    auth: _Auth


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


@router.post("/v3/auth/tokens", status_code=201)
def create_token(body: TokenRequest, svc: Svc) -> JSONResponse:
    """Password method, project scope; the token comes back in X-Subject-Token (valid 24 h)."""
    if "password" not in body.auth.identity.methods:
        raise InvalidToken(detail="only the password method is supported")
    user = body.auth.identity.password.user
    with svc.store.session() as s:
        repo = IdentityRepo(s, svc.box)
        found = repo.check_user(user.name, user.password)
        if found is None:
            raise InvalidToken(detail=f"bad user name or password for {user.name}")
        domain, project_id = found
        scope = body.auth.scope.project
        wanted = scope.id or (repo.project_by_name(scope.name) if scope.name else None)
        if wanted != project_id:
            raise InvalidProject(detail=f"user {user.name} has no role in project {scope.id or scope.name}")
        names = dict(repo.projects())
    token, expires = issue_token(svc.box, user.name, project_id, svc.settings.token_ttl_seconds)
    body_out: dict[str, Any] = {
        "token": {
            "expires_at": _iso(expires),
            "issued_at": _iso(expires - svc.settings.token_ttl_seconds * 1000),
            "methods": ["password"],
            "project": {"id": project_id, "name": names.get(project_id, ""), "domain": {"name": domain}},
            "user": {"name": user.name, "domain": {"name": domain}},
            "catalog": [],
        }
    }
    return JSONResponse(status_code=201, content=body_out, headers={"X-Subject-Token": token})


@router.get("/v3/projects")
def list_projects(
    svc: Svc, caller: Principal = Depends(authenticate), name: str | None = Query(default=None, max_length=128)
) -> dict[str, Any]:
    """The caller's project (the SDK asks this when it was given no project_id)."""
    with svc.store.session() as s:
        names = dict(IdentityRepo(s, svc.box).projects())
    projects = [{"id": caller.project_id, "name": names.get(caller.project_id, ""), "domain_id": "default",
                 "enabled": True}]
    if name is not None:
        projects = [p for p in projects if p["name"] == name]
    return {"projects": projects}
