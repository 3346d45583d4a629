"""Secrets at rest: database passwords and AK secrets are sealed with a server key.

The key is ``OPENDRS_SECRET_KEY`` (a Fernet key) or a file ``secret.key`` created once in
the data dir with 0600 permissions. Fernet (AES-128-CBC + HMAC) is used rather than a
hand-made scheme because it is authenticated and versioned.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Seals and opens short secrets; the sealed form is safe to store and log."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._mac_key = hashlib.sha256(b"opendrs-mac:" + key).digest()

    @classmethod
    def from_data_dir(cls, data_dir: Path, env_key: str | None = None) -> SecretBox:
        if env_key:
            return cls(env_key.encode())
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "secret.key"
        if not path.exists():
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
        return cls(path.read_bytes().strip())

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str, ttl: int | None = None) -> str:
        """Plaintext of ``sealed``; raises ValueError when it was not sealed by this key."""
        try:
            return self._fernet.decrypt(sealed.encode(), ttl=ttl).decode()
        except InvalidToken as exc:
            raise ValueError("sealed value is invalid or expired") from exc

    def mac(self, value: str) -> str:
        """A keyed digest, for looking secrets up without storing them in clear."""
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    """scrypt hash for user passwords (never need to be read back)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
