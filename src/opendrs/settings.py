"""Server settings, from the command line and ``OPENDRS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a server process needs; defaults give an embedded, single-node setup."""

    model_config = SettingsConfigDict(env_prefix="OPENDRS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".opendrs")
    # Metadata store; default is SQLite under data_dir (see ``resolved_store_url``).
    store_url: str | None = None
    # Key for secrets at rest; default is a key file created in data_dir.
    secret_key: SecretStr | None = None
    # Headless bootstrap credential (scripts and the SDK work at once).
    admin_ak: str | None = None
    admin_sk: SecretStr | None = None
    project_id: str | None = None
    project_name: str = "default"
    region: str = "local-1"
    token_ttl_seconds: int = 24 * 3600
    signature_skew_seconds: int = 15 * 60
    # How many task workers run at once.
    max_workers: int = 16

    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(self.data_dir / 'opendrs.db').resolve()}"
