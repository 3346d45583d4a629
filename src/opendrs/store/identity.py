"""Projects, users and AK/SK credentials (the self-hosted stand-in for IAM)."""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendrs.crypto import SecretBox, hash_password, verify_password
from opendrs.jobs.model import now_ms
from opendrs.store.models import CredentialRow, ProjectRow, UserRow


@dataclass(frozen=True)
class Credential:
    ak: str
    project_id: str
    user_name: str | None
    description: str
    created_at: int
    disabled: bool


class IdentityRepo:
    def __init__(self, session: Session, box: SecretBox) -> None:
        self.s = session
        self.box = box

    # --- projects ------------------------------------------------------------------------
    def ensure_project(self, project_id: str | None = None, name: str = "default") -> str:
        if project_id:
            row = self.s.get(ProjectRow, project_id)
            if row is None:
                self.s.add(ProjectRow(id=project_id, name=self._free_name(name, project_id), created_at=now_ms()))
                self.s.flush()
            return project_id
        existing = self.s.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if existing is not None:
            return existing.id
        pid = uuid.uuid4().hex
        self.s.add(ProjectRow(id=pid, name=name, created_at=now_ms()))
        self.s.flush()
        return pid

    def _free_name(self, name: str, project_id: str) -> str:
        taken = self.s.scalar(select(ProjectRow).where(ProjectRow.name == name))
        return name if taken is None else f"{name}-{project_id[:8]}"

    def project_by_name(self, name: str) -> str | None:
        row = self.s.scalar(select(ProjectRow).where(ProjectRow.name == name))
        return None if row is None else row.id

    def project_exists(self, project_id: str) -> bool:
        return self.s.get(ProjectRow, project_id) is not None

    def projects(self) -> list[tuple[str, str]]:
        return [(r.id, r.name) for r in self.s.scalars(select(ProjectRow).order_by(ProjectRow.name))]

    # --- credentials -----------------------------------------------------------------------
    def create_credential(
        self, project_id: str, ak: str | None = None, sk: str | None = None, user_name: str | None = None,
        description: str = "",
    ) -> tuple[str, str]:
        """Create (or replace the secret of) an AK/SK pair; returns (ak, sk)."""
        ak = ak or "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
        sk = sk or secrets.token_urlsafe(30)
        row = self.s.get(CredentialRow, ak)
        if row is None:
            self.s.add(CredentialRow(ak=ak, sk_sealed=self.box.seal(sk), project_id=project_id, user_name=user_name,
                                     description=description, created_at=now_ms(), disabled=False))
        else:
            row.sk_sealed, row.project_id, row.disabled = self.box.seal(sk), project_id, False
        self.s.flush()
        return ak, sk

    def secret_for(self, ak: str) -> tuple[str, str] | None:
        """(sk, project_id) of an enabled credential, or None."""
        row = self.s.get(CredentialRow, ak)
        if row is None or row.disabled:
            return None
        return self.box.open(row.sk_sealed), row.project_id

    def credentials(self) -> list[Credential]:
        rows = self.s.scalars(select(CredentialRow).order_by(CredentialRow.created_at))
        return [Credential(r.ak, r.project_id, r.user_name, r.description, r.created_at, r.disabled) for r in rows]

    def delete_credential(self, ak: str) -> bool:
        row = self.s.get(CredentialRow, ak)
        if row is None:
            return False
        self.s.delete(row)
        return True

    # --- users -------------------------------------------------------------------------------
    def create_user(self, name: str, password: str, project_id: str, domain: str = "default") -> None:
        row = self.s.get(UserRow, name)
        if row is None:
            self.s.add(UserRow(name=name, domain=domain, password_hash=hash_password(password), project_id=project_id,
                               created_at=now_ms(), disabled=False))
        else:
            row.password_hash, row.project_id, row.domain, row.disabled = (
                hash_password(password), project_id, domain, False)
        self.s.flush()

    def check_user(self, name: str, password: str) -> tuple[str, str] | None:
        """(domain, project_id) when the password is right, else None."""
        row = self.s.get(UserRow, name)
        if row is None or row.disabled or not verify_password(password, row.password_hash):
            return None
        return row.domain, row.project_id

    def users(self) -> list[tuple[str, str, str]]:
        return [(r.name, r.domain, r.project_id) for r in self.s.scalars(select(UserRow).order_by(UserRow.name))]

    def delete_user(self, name: str) -> bool:
        row = self.s.get(UserRow, name)
        if row is None:
            return False
        self.s.delete(row)
        return True
