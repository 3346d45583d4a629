"""FastAPI dependencies: the service container and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opendrs.api.auth import Principal, SignedRequest, verify_signature, verify_token
from opendrs.errors import InvalidProject, InvalidToken
from opendrs.jobs.context import Services
from opendrs.store.identity import IdentityRepo


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def authenticate(request: Request) -> Principal:
    """X-Auth-Token or an AK/SK signature; the path's project must be the caller's (403 otherwise)."""
    svc = services(request)
    token = request.headers.get("x-auth-token")
    if token:
        principal = verify_token(svc.box, token)
    elif request.headers.get("authorization"):
        body = await request.body()
        signed = SignedRequest(
            method=request.method,
            path=request.url.path,
            raw_query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )

        def find_secret(ak: str) -> tuple[str, str] | None:
            with svc.store.session() as s:
                return IdentityRepo(s, svc.box).secret_for(ak)

        ak, project_id = verify_signature(signed, find_secret, svc.settings.signature_skew_seconds)
        principal = Principal(project_id=project_id, name=ak, method="aksk")
    else:
        raise InvalidToken(detail="no X-Auth-Token and no Authorization header")
    path_project = request.path_params.get("project_id")
    if path_project is not None and path_project != principal.project_id:
        raise InvalidProject(detail=f"{principal.name} may not act on project {path_project}")
    header_project = request.headers.get("x-project-id")
    if header_project and header_project != principal.project_id:
        raise InvalidProject(detail="X-Project-Id does not match the credential's project")
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
Svc = Annotated[Services, Depends(services)]
