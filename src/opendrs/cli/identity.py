"""Admin commands for projects, users and AK/SK credentials, run on the server host.

Why they bypass the API: these commands bootstrap access to the API itself (like
``pg_ctl``/``createuser`` for PostgreSQL), so they work on the metadata store directly,
with the same ``--data-dir``/``--store-url`` as ``opendrs serve`` (and the same key file
for secrets at rest). A running server sees the changes at once: it looks credentials up
per request. Secrets are never taken from the command line (they would end up in shell
history and ``ps``): a secret key is generated and printed once, passwords come from a
prompt with confirmation or from stdin.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from opendrs.cli.output import OutputFormat, cli_errors, die, emit, fmt_time, kv_table, stderr, stdout, table

if TYPE_CHECKING:  # the store stack is imported only by the commands that use it (fast --help)
    from opendrs.store.identity import IdentityRepo

DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="The server's data dir (SQLite store and key file).")
]
StoreUrlOpt = Annotated[
    str | None, typer.Option("--store-url", help="Metadata store URL (default: SQLite in the data dir).")
]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json.")]
ProjectIdOpt = Annotated[str | None, typer.Option("--project-id", help="Project ID (created if new).")]
ProjectNameOpt = Annotated[str | None, typer.Option("--project", help="Project name (created if new).")]
ReplaceOpt = Annotated[bool, typer.Option("--replace", help="Overwrite an existing entry's secret.")]

_AK_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{3,127}$")
_USER_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
MIN_PASSWORD = 8

credentials_app = typer.Typer(help="AK/SK credentials for the API (admin, on the server host).",
                              no_args_is_help=True)
users_app = typer.Typer(help="Users who log in with a password (X-Auth-Token).", no_args_is_help=True)
projects_app = typer.Typer(help="Projects (tenants) known to this server.", no_args_is_help=True)


@contextmanager
def identity_repo(data_dir: Path, store_url: str | None, must_exist: bool = True) -> Iterator[IdentityRepo]:
    """One store transaction on the server's metadata store (committed on success)."""
    from opendrs.jobs.context import Services
    from opendrs.settings import Settings
    from opendrs.store.identity import IdentityRepo

    if must_exist and store_url is None and not (data_dir / "opendrs.db").exists():
        die(f"no OpenDRS store in {data_dir} (pass the server's --data-dir or --store-url)")
    svc = Services.build(Settings(data_dir=data_dir, store_url=store_url))
    try:
        with svc.store.session() as s:
            yield IdentityRepo(s, svc.box)
    finally:
        svc.store.dispose()


def _project(repo: IdentityRepo, project_id: str | None, project: str | None) -> str:
    """The project to attach to: by ID, by name, else the server's default project."""
    from opendrs.settings import Settings

    if project_id and project:
        die("give --project-id or --project, not both")
    if project_id:
        return repo.ensure_project(project_id)
    if project:
        return repo.ensure_project(None, project)
    settings = Settings()  # the same OPENDRS_PROJECT_ID / project name the server bootstraps
    return repo.ensure_project(settings.project_id, settings.project_name)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        die("no terminal to prompt for the password: pipe it in with --password-stdin")
    if len(password) < MIN_PASSWORD:
        die(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        die("the password may have at most 1024 characters")
    return password


# --- credentials -----------------------------------------------------------------------------


@credentials_app.command("create")
def credentials_create(
    project_id: ProjectIdOpt = None,
    project: ProjectNameOpt = None,
    ak: Annotated[str | None, typer.Option("--ak", help="Access key to use (default: generated).")] = None,
    description: Annotated[str, typer.Option("--description", help="Free text, e.g. who uses it.")] = "",
    replace: ReplaceOpt = False,
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an AK/SK pair; the secret key is printed this once and never again."""
    with cli_errors():
        if ak is not None and not _AK_RULE.match(ak):
            die("--ak must be 4-128 characters: letters, digits, '_', '.', '-'")
        if len(description) > 255:
            die("--description may have at most 255 characters")
        with identity_repo(data_dir, store_url, must_exist=False) as repo:
            if ak and not replace and any(c.ak == ak for c in repo.credentials()):
                die(f"credential {ak} already exists (pass --replace to issue it a new secret key)")
            pid = _project(repo, project_id, project)
            new_ak, new_sk = repo.create_credential(pid, ak, None, description=description)
        emit({"ak": new_ak, "sk": new_sk, "project_id": pid}, output,
             kv_table([("AK", new_ak), ("SK", new_sk), ("Project ID", pid)], title="New credential"))
        if output is OutputFormat.table:
            stderr().print(Text("Store the secret key now: it cannot be shown again.", style="yellow"))


@credentials_app.command("list")
def credentials_list(
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List credentials (access keys only: secret keys are never shown)."""
    with cli_errors():
        with identity_repo(data_dir, store_url) as repo:
            creds = repo.credentials()
        data = [{"ak": c.ak, "project_id": c.project_id, "user_name": c.user_name,
                 "description": c.description, "created_at": c.created_at, "disabled": c.disabled}
                for c in creds]
        emit(data, output, table(
            ["AK", "PROJECT ID", "USER", "CREATED", "ENABLED", "DESCRIPTION"],
            [[c.ak, c.project_id, c.user_name, fmt_time(c.created_at), not c.disabled, c.description]
             for c in creds]))


@credentials_app.command("delete")
def credentials_delete(
    ak: Annotated[str, typer.Argument(help="Access key to delete.")],
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
) -> None:
    """Delete a credential; requests signed with it fail from now on."""
    with cli_errors():
        with identity_repo(data_dir, store_url) as repo:
            found = repo.delete_credential(ak)
        if not found:
            die(f"no credential {ak}")
        stdout().print(f"deleted credential {ak}")


# --- users ------------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name (used in POST /v3/auth/tokens).")],
    project: ProjectNameOpt = None,
    project_id: ProjectIdOpt = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]
    = False,
    replace: Annotated[bool, typer.Option("--replace", help="Reset an existing user's password.")] = False,
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
) -> None:
    """Create a user; the password comes from a prompt (asked twice) or stdin, never the command line."""
    with cli_errors():
        if not _USER_RULE.match(name):
            die("user names are 1-128 characters: letters, digits, '_', '.', '@', '-'")
        password = _read_password(password_stdin)
        with identity_repo(data_dir, store_url, must_exist=False) as repo:
            if not replace and any(u[0] == name for u in repo.users()):
                die(f"user {name} already exists (pass --replace to reset the password)")
            pid = _project(repo, project_id, project)
            repo.create_user(name, password, pid)
        stdout().print(f"user {name} can now log in to project {pid}")


@users_app.command("list")
def users_list(
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List users and their project."""
    with cli_errors():
        with identity_repo(data_dir, store_url) as repo:
            users = repo.users()
            names = dict(repo.projects())
        data = [{"name": n, "domain": d, "project_id": p, "project_name": names.get(p, "")}
                for n, d, p in users]
        emit(data, output, table(["NAME", "DOMAIN", "PROJECT ID", "PROJECT"],
                                 [[n, d, p, names.get(p)] for n, d, p in users]))


@users_app.command("delete")
def users_delete(
    name: Annotated[str, typer.Argument(help="User to delete.")],
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
) -> None:
    """Delete a user (tokens already issued stay valid until they expire)."""
    with cli_errors():
        with identity_repo(data_dir, store_url) as repo:
            found = repo.delete_user(name)
        if not found:
            die(f"no user {name}")
        stdout().print(f"deleted user {name}")


# --- projects ---------------------------------------------------------------------------------


@projects_app.command("list")
def projects_list(
    data_dir: DataDirOpt = Path(".opendrs"),
    store_url: StoreUrlOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List projects (the ``project_id`` in every API path)."""
    with cli_errors():
        with identity_repo(data_dir, store_url) as repo:
            projects = repo.projects()
        emit([{"id": i, "name": n} for i, n in projects], output, table(["ID", "NAME"], projects))


def register(app: typer.Typer) -> None:
    app.add_typer(credentials_app, name="credentials")
    app.add_typer(users_app, name="users")
    app.add_typer(projects_app, name="projects")
