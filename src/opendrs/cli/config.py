"""Client connection settings: command-line options, ``OPENDRS_*`` variables or a profile file.

Why: the task commands are a thin client of the REST API and need an endpoint and an AK/SK
pair. Typing the secret key on every command line leaks it (``ps``, shell history), so
``opendrs login`` stores it once in ``~/.config/opendrs/client.yaml`` (mode 0600, like
``~/.aws/credentials``). Precedence, highest first: option, environment variable (typer
merges both), the selected profile, then the built-in default endpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from opendrs.cli.output import CliError
from opendrs.client import DrsHttpClient

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"
CONFIG_ENV = "OPENDRS_CLIENT_CONFIG"  # overrides the file location (tests, several setups)
_HEADER = "# Written by `opendrs login`. Holds a secret key: keep this file private (mode 0600).\n"


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to call the API as one credential."""

    endpoint: str
    ak: str
    sk: str
    project_id: str

    def client(self, timeout: float = 60.0) -> DrsHttpClient:
        return DrsHttpClient(self.endpoint, self.ak, self.sk, self.project_id, timeout=timeout)


def config_path() -> Path:
    """``$OPENDRS_CLIENT_CONFIG``, else ``$XDG_CONFIG_HOME/opendrs/client.yaml`` (``~/.config``)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opendrs" / "client.yaml"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read client config {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles", {}), dict):
        raise CliError(f"client config {path} is not a mapping with a 'profiles' section")
    return doc


def load_profile(name: str = DEFAULT_PROFILE, path: Path | None = None) -> dict[str, str]:
    """The profile's settings (empty when the file or the profile does not exist)."""
    profile = _read(path or config_path()).get("profiles", {}).get(name) or {}
    if not isinstance(profile, dict):
        raise CliError(f"profile {name!r} in {path or config_path()} is not a mapping")
    return {str(k): str(v) for k, v in profile.items() if v is not None}


def save_profile(config: ClientConfig, name: str = DEFAULT_PROFILE, path: Path | None = None) -> Path:
    """Write (or replace) one profile, keeping the others; the file is created with mode 0600."""
    target = path or config_path()
    doc = _read(target)
    profiles = dict(doc.get("profiles") or {})
    profiles[name] = {"endpoint": config.endpoint, "ak": config.ak, "sk": config.sk,
                      "project_id": config.project_id}
    doc["profiles"] = profiles
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # Create with 0600 from the start: the secret is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_HEADER)
            yaml.safe_dump(doc, fh, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def resolve(
    endpoint: str | None = None,
    ak: str | None = None,
    sk: str | None = None,
    project_id: str | None = None,
    profile: str = DEFAULT_PROFILE,
    path: Path | None = None,
) -> ClientConfig:
    """Merge explicit values (options/env) over the profile; raises CliError naming what is missing."""
    stored = load_profile(profile, path)
    if not stored and profile != DEFAULT_PROFILE:
        raise CliError(f"no profile {profile!r} in {path or config_path()} (create it with `opendrs login`)")
    values = {
        "endpoint": endpoint or stored.get("endpoint") or DEFAULT_ENDPOINT,
        "ak": ak or stored.get("ak") or "",
        "sk": sk or stored.get("sk") or "",
        "project_id": project_id or stored.get("project_id") or "",
    }
    flags = {"ak": "--ak / OPENDRS_AK", "sk": "--sk / OPENDRS_SK",
             "project_id": "--project-id / OPENDRS_PROJECT_ID"}
    missing = [flags[k] for k in flags if not values[k]]
    if missing:
        raise CliError(f"missing {', '.join(missing)}: set them or run `opendrs login` first")
    values["endpoint"] = values["endpoint"].rstrip("/")
    return ClientConfig(**values)
