"""ASGI application factory: routers, error handler, start-up bootstrap and graceful shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from opendrs import __version__
from opendrs.api import errors
from opendrs.api.deps import authenticate
from opendrs.api.routes import compare, config, dr, extras, iam, jobs, lifecycle, users, v5
from opendrs.jobs.context import Services
from opendrs.settings import Settings
from opendrs.store.identity import IdentityRepo

log = logging.getLogger("opendrs")


def bootstrap_identity(svc: Services) -> None:
    """Create the headless admin credential from OPENDRS_ADMIN_AK/SK + OPENDRS_PROJECT_ID."""
    st = svc.settings
    with svc.store.session() as s:
        repo = IdentityRepo(s, svc.box)
        project_id = repo.ensure_project(st.project_id, st.project_name)
        if st.admin_ak and st.admin_sk:
            repo.create_credential(project_id, st.admin_ak, st.admin_sk.get_secret_value(), user_name="admin",
                                   description="bootstrap (OPENDRS_ADMIN_AK)")


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    svc = services or Services.build(settings)
    from opendrs.jobs.supervisor import load_engines

    load_engines()  # engines register runners, prechecks and providers the routes look up

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bootstrap_identity(svc)
        from opendrs.jobs.supervisor import Supervisor

        svc.supervisor = Supervisor(svc)
        svc.supervisor.start()
        from opendrs.jobs.compare import compare_service, stop_compare_service

        compare_service(svc)  # restart recovery; scheduled comparisons start with the server
        log.info("OpenDRS %s serving, store %s", __version__, svc.store.url.split("@")[-1])
        try:
            yield
        finally:
            # Graceful: workers stop at a batch boundary with their checkpoint stored, and
            # their tasks keep the running status so the next start resumes them.
            svc.supervisor.shutdown()
            stop_compare_service(svc)
            svc.store.dispose()

    app = FastAPI(
        title="OpenDRS",
        version=__version__,
        description="Self-hosted Data Replication Service, wire-compatible with the DRS v3/v5 API.",
        lifespan=lifespan,
        # operationId = the SDK's method name (the route function's name), not path noise.
        generate_unique_id_function=_operation_id,
    )
    app.state.services = svc
    errors.install(app)
    app.include_router(iam.router)
    protected = [Depends(authenticate)]
    for module in (jobs, lifecycle, config, users, compare, dr, extras):
        app.include_router(module.router, prefix="/v3/{project_id}", dependencies=protected)
    app.include_router(v5.router, prefix="/v5/{project_id}", dependencies=protected)
    return app
