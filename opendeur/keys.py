"""Keys of one purpose each: given explicitly to the one service that uses it, or derived with
HKDF from the root secret (OPENDEUR_SECRET_KEY) by a process that holds it (`up`, the CLI, tests)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from opendeur.settings import SECRET_FIELDS, Settings


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


def encode_key(key: bytes) -> str:
    """Key material as it goes into a setting: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def decode_key(text: str, setting: str, length: int = 32) -> bytes:
    """The bytes of a base64 key setting; the error names the setting, never the value."""
    text = text.strip()
    try:
        key = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != length:
        raise KeyringError(f"{setting} must be {length} bytes in base64")
    return key


# Keys a service uses for itself, each with its own setting (which `opendeur up` and the
# deployments give only to that service). Without the setting the key is derived from the root
# secret, as before: only a process that holds OPENDEUR_SECRET_KEY can do that.
PURPOSE_SETTINGS: dict[str, tuple[str, str]] = {
    # purpose: (settings field, the service that holds it)
    "intake-session": ("intake_session_key", "intake"),
    "thanks-cookie": ("intake_cookie_key", "intake"),
    "csrf": ("routing_csrf_key", "routing"),
}


def purpose_key(settings: Settings, purpose: str) -> bytes:
    """The key of one purpose: its explicit setting, else derived from the root secret."""
    field, _service = PURPOSE_SETTINGS[purpose]
    given = getattr(settings, field)
    if given is not None:
        return decode_key(given.get_secret_value(), f"OPENDEUR_{field.upper()}")
    if settings.secret_key is None:
        raise MissingSecret(f"OPENDEUR_{field.upper()} (or OPENDEUR_SECRET_KEY) is not set")
    return derive(settings, purpose)


class KeyringError(RuntimeError):
    """A master-key problem. Messages name key ids and settings, never key material."""


class UnknownKeyId(KeyringError):
    pass


class UnwrapFailed(KeyringError):
    pass


# What opening a sealed row can raise: its key's id not configured, its wrapped key or its
# ciphertext damaged. A queue of such rows (notify's address mails, intake's SMS confirmations)
# takes each on its own: one that raised inside the claim rolled the whole claim back, and being
# the oldest due it stopped every row after it (a helper's review, December 2026).
UNREADABLE: tuple[type[Exception], ...] = (KeyringError, InvalidTag, ValueError)
# A row under a key id this process does not know may be another instance's newer key during a
# rollout: it is looked at again every UNKNOWN_KEY_WAIT_S (a look is no try: its attempts stay)
# until it is UNKNOWN_KEY_FOR old; a damaged row or key, or a key still unknown then, fails.
UNKNOWN_KEY_WAIT_S = 60
UNKNOWN_KEY_FOR = timedelta(hours=1)


def waits_for_key(error: BaseException, since: datetime) -> bool:
    """Whether a row that raised `error` when opened waits for its key (see UNKNOWN_KEY_FOR),
    `since` the row's or its question's creation."""
    return isinstance(error, UnknownKeyId) and datetime.now(UTC) - since < UNKNOWN_KEY_FOR


LEGACY_KEY_ID = "k1"
_KEY_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _safe_id(kid: bytes) -> str:
    """A key id read from stored data, shown only if it looks like one (errors must stay clean)."""
    text = kid.decode("ascii", "replace")
    return text if _KEY_ID.match(text) else "<not a key id>"


def parse_master_keys(text: str) -> list[tuple[str, bytes | None]]:
    """`k3:<base64 of 32 bytes>,k2:<...>,k1` -> [(id, key), ...], the first being current.

    A bare `k1` stands for the key derived from OPENDEUR_SECRET_KEY (key None here). Entries are
    separated by commas or new lines. Errors say which entry is wrong and why, never what it
    contains."""
    entries: list[tuple[str, bytes | None]] = []
    for n, item in enumerate((i.strip() for i in text.replace("\n", ",").split(",")), 1):
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        kid = kid.strip()
        if not _KEY_ID.match(kid) or (not sep and kid != LEGACY_KEY_ID):
            raise KeyringError(
                f"OPENDEUR_MASTER_KEYS entry {n}: expected ID:BASE64KEY with an id like k2 "
                "(lowercase letters, digits, '-' or '_'), or a bare k1"
            )
        if any(kid == k for k, _ in entries):
            raise KeyringError(f"OPENDEUR_MASTER_KEYS entry {n}: the id {kid} appears twice")
        if kid == LEGACY_KEY_ID:
            if sep:
                raise KeyringError(
                    f"OPENDEUR_MASTER_KEYS entry {n}: {LEGACY_KEY_ID} is the key derived from "
                    f"OPENDEUR_SECRET_KEY; list it as a bare `{LEGACY_KEY_ID}`, without a key"
                )
            entries.append((kid, None))
            continue
        try:
            b64 = b64.strip()
            key = base64.b64decode(
                b64.replace("-", "+").replace("_", "/") + "=" * (-len(b64) % 4), validate=True
            )
        except (ValueError, binascii.Error):
            key = b""
        if len(key) != 32:
            raise KeyringError(
                f"OPENDEUR_MASTER_KEYS entry {n} (id {kid}): the key must be 32 random bytes in "
                "base64 (`opendeur keys new` makes one)"
            )
        entries.append((kid, key))
    if not entries:
        raise KeyringError("OPENDEUR_MASTER_KEYS is set but lists no keys")
    return entries


def new_master_key_line(key_id: str) -> str:
    """A fresh `ID:BASE64` entry for OPENDEUR_MASTER_KEYS."""
    if not _KEY_ID.match(key_id) or key_id == LEGACY_KEY_ID:
        raise KeyringError(
            f"not a usable key id: {key_id!r} (lowercase letters, digits, '-' or '_'; not k1)"
        )
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def service_keyring(settings: Settings, service: str) -> list[tuple[str, bytes]]:
    """The wrapping keys of one service, current first.

    Without OPENDEUR_MASTER_KEYS this is exactly the old single key k1, derived from
    OPENDEUR_SECRET_KEY. With it, what is listed is what can be read: each entry is separated per
    service with HKDF (one service's wrapping key opens nothing of another's), and k1 is readable
    only while it is listed (as a bare `k1`)."""
    own = getattr(settings, f"{service}_master_keys", None)
    if own is not None:
        return parse_service_keys(own.get_secret_value(), f"OPENDEUR_{service.upper()}_MASTER_KEYS")
    listed = settings.master_keys.get_secret_value().strip() if settings.master_keys else ""
    if not listed:
        return [(LEGACY_KEY_ID, derive(settings, f"master-key:{service}"))]
    ring: list[tuple[str, bytes]] = []
    for kid, key in parse_master_keys(listed):
        if key is None:
            if settings.secret_key is None:
                raise KeyringError(
                    f"OPENDEUR_MASTER_KEYS lists {LEGACY_KEY_ID}, which is derived from "
                    "OPENDEUR_SECRET_KEY, but that is not set"
                )
            ring.append((kid, derive(settings, f"master-key:{service}")))
            continue
        ring.append(
            (
                kid,
                HKDF(
                    algorithm=hashes.SHA256(),
                    length=32,
                    salt=b"opendeur/master-keys/v1",
                    info=f"master-key:{service}:{kid}".encode(),
                ).derive(key),
            )
        )
    return ring


def parse_service_keys(text: str, setting: str) -> list[tuple[str, bytes]]:
    """A service's own wrapping keys, `ID:BASE64,...` current first, used as they are (what
    `service_keyring` computes from OPENDEUR_MASTER_KEYS, handed to that one service only)."""
    ring: list[tuple[str, bytes]] = []
    for n, item in enumerate((i.strip() for i in text.replace("\n", ",").split(",")), 1):
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        if not sep or not _KEY_ID.match(kid.strip()):
            raise KeyringError(f"{setting} entry {n}: expected ID:BASE64KEY")
        ring.append((kid.strip(), decode_key(b64, f"{setting} entry {n}")))
    if not ring:
        raise KeyringError(f"{setting} is set but lists no keys")
    return ring


def service_keys_line(ring: list[tuple[str, bytes]]) -> str:
    """A keyring as one service's own setting (the inverse of parse_service_keys)."""
    return ",".join(f"{kid}:{encode_key(key)}" for kid, key in ring)


class Envelope:
    """Envelope encryption: per-record data keys, wrapped by a master key (AES-256-GCM).

    A wrapped data key is `<key id>:` + nonce + ciphertext; the key id says which master key of
    the keyring opens it. New data keys are always wrapped with the current (first) key."""

    def __init__(self, master: bytes | list[tuple[str, bytes]]):
        """A keyring, current key first; bare bytes are the key derived from the secret."""
        ring = [(LEGACY_KEY_ID, master)] if isinstance(master, bytes) else list(master)
        if not ring:
            raise KeyringError("an envelope needs at least one master key")
        self.key_id = ring[0][0]
        self._keys = {kid: AESGCM(key) for kid, key in ring}
        self._current = self._keys[self.key_id]
        self._prefix = self.key_id.encode() + b":"

    def __repr__(self) -> str:
        return f"Envelope(current={self.key_id!r}, known={sorted(self._keys)!r})"

    @classmethod
    def for_service(cls, settings: Settings, service: str) -> Envelope:
        return cls(service_keyring(settings, service))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def current_prefix(self) -> bytes:
        """What every data key wrapped under the current key starts with."""
        return self._prefix

    def _wrap(self, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return self._prefix + nonce + self._current.encrypt(nonce, key, b"dk")

    def new_data_key(self) -> tuple[bytes, bytes]:
        """Returns (data key, wrapped data key)."""
        key = AESGCM.generate_key(bit_length=256)
        return key, self._wrap(key)

    def is_current(self, wrapped: bytes) -> bool:
        return bytes(wrapped).startswith(self._prefix)

    def unwrap(self, wrapped: bytes) -> bytes:
        kid, sep, rest = bytes(wrapped).partition(b":")
        master = self._keys.get(kid.decode("ascii", "replace")) if sep else None
        if master is None:
            shown = _safe_id(kid)
            hint = (
                f" (as a bare `{LEGACY_KEY_ID}`: it is derived from OPENDEUR_SECRET_KEY)"
                if shown == LEGACY_KEY_ID
                else ""
            )
            raise UnknownKeyId(
                f"data key is wrapped under master key id {shown}, which is not configured "
                f"(known: {', '.join(self._keys)}); list it in OPENDEUR_MASTER_KEYS{hint} until "
                "`opendeur keys rotate` has re-wrapped everything"
            )
        try:
            return master.decrypt(rest[:12], rest[12:], b"dk")
        except InvalidTag:
            raise UnwrapFailed(
                f"data key under master key id {_safe_id(kid)} does not open with the configured "
                "key of that id (wrong key material, or the stored key is damaged)"
            ) from None

    def rewrap(self, wrapped: bytes) -> bytes:
        """The same data key wrapped under the current master key (the sealed fields stay valid)."""
        if self.is_current(wrapped):
            return bytes(wrapped)
        return self._wrap(self.unwrap(wrapped))

    @staticmethod
    def seal(key: bytes, plaintext: str, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())

    @staticmethod
    def open(key: bytes, sealed: bytes, aad: str) -> str:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad.encode()).decode()


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# What `opendeur up` never passes on from its own environment to a child: the root secret, the
# owner's database URL and every per-service secret (a child then gets only its own, below).
_NOT_INHERITED = frozenset(
    {
        "OPENDEUR_SECRET_KEY",
        "OPENDEUR_DATABASE_URL",
        "OPENDEUR_MASTER_KEYS",
        "OPENDEUR_ADMIN_TOKEN",
        "OPENDEUR_SMTP_URL",  # it may carry the mail relay's password: notify's alone
        "OPENDEUR_SMS_URL",  # it may carry the gateway's API key: the SMS senders' alone
        "OPENDEUR_SMS_BODY_TEMPLATE",
        *(f"OPENDEUR_{f.upper()}" for f in SECRET_FIELDS),
    }
)
# The services that check OPENDEUR_ADMIN_TOKEN: it reads audit's API and reports only, so a
# compromised routing or notify must not hold it (Runtime.check_admin).
ADMIN_TOKEN_HOLDERS = ("audit",)
LINK_VERIFIERS = {"intake": ("callback", "contact"), "routing": ("contact",)}


def inherited(name: str) -> bool:
    """Whether a child of `up` may see this variable of `up`'s environment."""
    return name.removesuffix("_FILE") not in _NOT_INHERITED


def own_settings(settings: Settings, service: str, *, nats_accounts: bool) -> dict[str, str]:
    """The OPENDEUR_* settings of one service's own secrets, computed from the root secret by
    `opendeur up`: its database role's URL, its broker account, the keys it uses; nothing from
    which another service's secret can be derived."""
    from opendeur.db import service_url
    from opendeur.natsauth import password

    env = {f"OPENDEUR_{service.upper()}_DATABASE_URL": service_url(settings, service)}
    if nats_accounts:
        env["OPENDEUR_NATS_AUTH"] = "password"
        env["OPENDEUR_NATS_USER"] = service
        env["OPENDEUR_NATS_PASSWORD"] = password(settings, service)
    env.update(_own_keys(settings, service))
    env.update(_own_links(settings, service))
    env.update(_own_tokens(settings, service))
    env.update(_own_sms(settings, service))
    return env


def _own_keys(settings: Settings, service: str) -> dict[str, str]:
    """The purpose keys the service owns, and its master keys (intake and notify)."""
    env = {
        f"OPENDEUR_{field.upper()}": encode_key(purpose_key(settings, purpose))
        for purpose, (field, owner) in PURPOSE_SETTINGS.items()
        if owner == service
    }
    if service in ("intake", "notify"):
        ring = service_keys_line(service_keyring(settings, service))
        env[f"OPENDEUR_{service.upper()}_MASTER_KEYS"] = ring
    return env


def _own_links(settings: Settings, service: str) -> dict[str, str]:
    """Notify signs links (and sends mail: the SMTP URL); intake and routing verify them."""
    from opendeur import links

    env: dict[str, str] = {}
    if service == "notify":
        for key in links.KEYS:
            env[f"OPENDEUR_LINK_KEY_{key.upper()}"] = links.key_settings(settings, key)[0]
        if settings.smtp_url:
            env["OPENDEUR_SMTP_URL"] = settings.smtp_url
    for key in LINK_VERIFIERS.get(service, ()):
        env[f"OPENDEUR_LINK_VERIFY_{key.upper()}"] = links.key_settings(settings, key)[1]
    return env


# The services that send SMS through the gateway (opendeur/sms.py): notify to contact persons,
# intake the help-seeker's own confirmation (her number never leaves intake).
SMS_SENDERS = ("intake", "notify")


def _own_sms(settings: Settings, service: str) -> dict[str, str]:
    """The SMS gateway's settings, to its senders only: its URL may carry an API key and its
    auth header is a credential (neither is inherited)."""
    if service not in SMS_SENDERS or not settings.sms_url:
        return {}
    env = {"OPENDEUR_SMS_URL": settings.sms_url}
    if settings.sms_auth_header is not None:
        env["OPENDEUR_SMS_AUTH_HEADER"] = settings.sms_auth_header.get_secret_value()
    if settings.sms_body_template:
        env["OPENDEUR_SMS_BODY_TEMPLATE"] = settings.sms_body_template
    return env


def _own_tokens(settings: Settings, service: str) -> dict[str, str]:
    """The admin token (its holders), and the staff sign-in: intake signs with a key derived
    from its own session key unless one is given (opendeur/staff.py); the services with staff
    pages get only the public half."""
    env: dict[str, str] = {}
    if service in ADMIN_TOKEN_HOLDERS and settings.admin_token is not None:
        env["OPENDEUR_ADMIN_TOKEN"] = settings.admin_token.get_secret_value()
    if service == "intake" and settings.staff_signing_key is not None:
        env["OPENDEUR_STAFF_SIGNING_KEY"] = settings.staff_signing_key.get_secret_value()
    if service in STAFF_VERIFIERS:
        from opendeur.staff import verify_key_setting

        env["OPENDEUR_STAFF_VERIFY_KEY"] = verify_key_setting(settings)
    return env


STAFF_VERIFIERS = ("routing", "notify", "audit")
# Not secrets, or not files: the staff verify key is a public key, given as a plain variable.
_NOT_FILES = (
    "OPENDEUR_NATS_AUTH",
    "OPENDEUR_NATS_USER",
    "OPENDEUR_SMTP_URL",
    "OPENDEUR_SMS_URL",
    "OPENDEUR_SMS_BODY_TEMPLATE",
    "OPENDEUR_STAFF_VERIFY_KEY",
)


def secret_file_names(service: str) -> list[str]:
    """The settings a deployment gives one service as files (OPENDEUR_<NAME>_FILE, the file
    named <name>); deploy/ mounts exactly these (tests/unit/test_deploy.py)."""
    placeholder = new_secret()  # only the names are used
    sample = Settings(
        secret_key=placeholder, admin_token=placeholder, database_url="postgresql://o@db/o"
    )
    names = own_settings(sample, service, nats_accounts=True)
    return [n.removeprefix("OPENDEUR_").lower() for n in names if n not in _NOT_FILES]


def export_service_secrets(settings: Settings, directory: Path) -> list[Path]:
    """Write each service's own secrets, one file each (0600), into DIRECTORY/<service>/, the
    migrations' into DIRECTORY/migrate/, and the broker's account passwords into
    DIRECTORY/nats.env (for the nats-server config)."""
    from opendeur.natsauth import ADMIN_USER, password
    from opendeur.settings import SERVICES, write_secret

    written = []
    for service in SERVICES:
        target = directory / service
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, value in own_settings(settings, service, nats_accounts=True).items():
            if name not in _NOT_FILES:
                path = target / name.removeprefix("OPENDEUR_").lower()
                write_secret(path, value + "\n")
                written.append(path)
    # The migrations: the owner's URL, each role's URL (provisioning sets the role passwords from
    # them, so no deployment needs the root secret) and the broker's admin account.
    migrate = directory / "migrate"
    migrate.mkdir(mode=0o700, parents=True, exist_ok=True)
    from opendeur.db import service_url

    values = {
        "database_url": settings.database_url or "",
        "nats_password": password(settings, ADMIN_USER),
    }
    values |= {f"{s}_database_url": service_url(settings, s) for s in SERVICES}
    for name, value in values.items():
        write_secret(migrate / name, value + "\n")
        written.append(migrate / name)
    env = "".join(
        f"OPENDEUR_NATS_{user.upper().replace('-', '_')}_PASSWORD={password(settings, user)}\n"
        for user in (ADMIN_USER, *SERVICES)
    )
    write_secret(directory / "nats.env", env)
    return [*written, directory / "nats.env"]
