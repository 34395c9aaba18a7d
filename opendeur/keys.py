"""Keys derived from the one secret (OPENDEUR_SECRET_KEY), separated by purpose with HKDF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from opendeur.settings import Settings


class MissingSecret(RuntimeError):
    pass


def secret_bytes(settings: Settings) -> bytes:
    if settings.secret_key is None:
        raise MissingSecret("OPENDEUR_SECRET_KEY (or OPENDEUR_SECRET_KEY_FILE) is not set")
    return settings.secret_key.get_secret_value().encode()


def derive(settings: Settings, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"opendeur/v1", info=purpose.encode()
    ).derive(secret_bytes(settings))


def role_password(settings: Settings, service: str) -> str:
    """The database role password of a service, derived so no one has to store it."""
    return base64.urlsafe_b64encode(derive(settings, f"db-role:{service}")).decode().rstrip("=")


def pseudonym(settings: Settings, kind: str, value: str) -> str:
    """A stable pseudonymous id (e.g. of a contact person's e-mail) that reveals nothing."""
    mac = hmac.new(derive(settings, f"pseudonym:{kind}"), value.strip().lower().encode(), "sha256")
    return f"{kind[0]}-{mac.hexdigest()[:20]}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Envelope:
    """Envelope encryption: per-record data keys, wrapped by a master key (AES-256-GCM)."""

    KEY_ID = "k1"

    def __init__(self, master: bytes) -> None:
        self._master = AESGCM(master)

    @classmethod
    def for_service(cls, settings: Settings, service: str) -> Envelope:
        return cls(derive(settings, f"master-key:{service}"))

    def new_data_key(self) -> tuple[bytes, bytes]:
        """Returns (data key, wrapped data key)."""
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        return key, self.KEY_ID.encode() + b":" + nonce + self._master.encrypt(nonce, key, b"dk")

    def unwrap(self, wrapped: bytes) -> bytes:
        _kid, _, rest = wrapped.partition(b":")
        return self._master.decrypt(rest[:12], rest[12:], b"dk")

    @staticmethod
    def seal(key: bytes, plaintext: str, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())

    @staticmethod
    def open(key: bytes, sealed: bytes, aad: str) -> str:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad.encode()).decode()


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
