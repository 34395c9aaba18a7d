"""Settings from the environment (OPENDEUR_*), with *_FILE variants for secrets."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "routing", "notify", "audit")
# Longer than anything the broker may still redeliver or replay (events 14d, dead letters 30d),
# so a pruned event cannot come back; the audit migration 0005 enforces it too.
AUDIT_RETENTION_FLOOR_DAYS = 90
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
# A rate limit as intake reads it (services/intake/ratelimit.py parses it): 20/min, 5/s, off.
RATE_PATTERN = r"^\s*((off|none|0)|\d+\s*/\s*(s|sec|second|m|min|minute|h|hour))\s*$"


def parse_duration(text: str | timedelta, *, bare_seconds: bool = False) -> timedelta:
    """The one duration parser: '90s', '30m', '24h', '7d' -> timedelta (a timedelta is taken as
    it is, so `parse_duration(settings.link_ttl)` keeps working now that the field is one); with
    `bare_seconds`, also a plain number of seconds ('300', '0.5'), the form the settings that
    always took seconds keep accepting. Anything else, or nothing, is a ValueError."""
    if isinstance(text, timedelta):
        if text <= timedelta(0):
            raise ValueError("a duration must be longer than nothing")
        return text
    m = _DURATION.match(text)
    if m and int(m.group(1)) > 0:
        return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    m = _SECONDS.match(text) if bare_seconds else None
    if m and float(m.group(1)) > 0:
        return timedelta(seconds=float(m.group(1)))
    raise ValueError(f"not a duration like 90s, 30m, 24h or 7d: {text!r}")


def _duration(value: object) -> timedelta:
    if not isinstance(value, str | timedelta):
        raise ValueError("a duration is written like 90s, 30m, 24h or 7d")
    return parse_duration(value)


def _seconds(value: object) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str | timedelta):
        raise ValueError("a duration is written like 0.5, 300 (seconds), 90s or 30m")
    return parse_duration(value, bare_seconds=True)


# Settings fields that are durations: OPENDEUR_LINK_TTL=7d is `timedelta(days=7)` in code.
Duration = Annotated[timedelta, BeforeValidator(_duration)]
# The same, also taking a plain number of seconds (`0.5`): settings that were always seconds.
Seconds = Annotated[timedelta, BeforeValidator(_seconds)]


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner may read, from its first byte on (writing first and
    chmod-ing after leaves it readable at the umask's mode for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # a file that existed keeps its mode through os.open


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of white text on `colour` (#rrggbb)."""

    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def _read_secret_file(var: str) -> str | None:
    path = os.environ.get(f"{var}_FILE")
    if not path:
        return None
    p = Path(path)
    try:
        mode = p.stat().st_mode  # through symlinks: the kubelet's `..data` links
    except OSError as exc:
        raise ValueError(f"{var}_FILE: cannot open it ({exc.strerror})") from None
    # Group read is what real mounts give a non-root process: the kubelet makes a secret
    # root:<fsGroup> 0440 (defaultMode 0440 with fsGroup), a compose file secret keeps the host
    # file's owner and mode (0640 root:<gid> works). What is refused is a file every user of the
    # machine may read, or one anyone but its owner may change.
    if mode & 0o026:
        raise ValueError(
            f"{var}_FILE must not be readable by others nor writable by group or others "
            "(chmod 600, or 440/640 with the service's group)"
        )
    if not os.access(p, os.R_OK):
        raise ValueError(
            f"{var}_FILE is not readable by this process (uid {os.getuid()}, gid {os.getgid()}): "
            "give it to its user, or to a group it is in (Kubernetes: fsGroup)"
        )
    try:
        return p.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{var}_FILE: cannot read it ({type(exc).__name__})") from None


# Settings that may come from a file (OPENDEUR_<NAME>_FILE), besides the ones listed in place.
SECRET_FIELDS = (
    *(f"{s}_database_url" for s in SERVICES),
    "intake_master_keys",
    "notify_master_keys",
    "intake_session_key",
    "intake_cookie_key",
    "routing_csrf_key",
    "link_key_callback",
    "link_key_contact",
    "link_verify_callback",
    "link_verify_contact",
    "staff_signing_key",
    "sms_auth_header",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENDEUR_", extra="ignore")

    nats_url: str | None = None
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_replicas: int = Field(default=1, ge=1, le=5)
    nats_auth: str = Field(default="none", pattern="^(none|password|derived)$")
    database_url: str | None = None
    intake_database_url: str | None = None
    routing_database_url: str | None = None
    notify_database_url: str | None = None
    audit_database_url: str | None = None
    smtp_url: str | None = None
    smtp_from: str = "opendeur <noreply@zelfhulpnetwerk.invalid>"
    data_dir: Path = Path(".opendeur")
    secret_key: SecretStr | None = None
    # Master keys wrapping data keys, `k3:<base64 32 bytes>,k2:<...>`, current first (opendeur/keys.py).
    master_keys: SecretStr | None = None
    # Each service's own keys (opendeur/keys.py, links.py); `opendeur up` and the deployments give
    # each service only its own. Unset, a key is derived from secret_key (a process holding it).
    intake_master_keys: SecretStr | None = None  # `ID:BASE64,...`, used as given
    notify_master_keys: SecretStr | None = None
    intake_session_key: SecretStr | None = None
    intake_cookie_key: SecretStr | None = None
    routing_csrf_key: SecretStr | None = None
    link_key_callback: SecretStr | None = None  # Ed25519 seeds: notify signs
    link_key_contact: SecretStr | None = None
    link_verify_callback: str | None = None  # Ed25519 public keys: intake and routing verify
    link_verify_contact: str | None = None
    admin_token: SecretStr | None = None
    # Staff sign-in (opendeur/staff.py): intake signs assertions (Ed25519 seed; unset, derived
    # from intake's session key), routing, audit and notify verify them with the public key.
    staff_signing_key: SecretStr | None = None
    staff_verify_key: str | None = None
    # Scoped machine tokens, stored hashed: `name:scope[+scope]:sha256hex,...` (runtime.py).
    machine_tokens: str = ""
    public_base_url: str | None = None
    # Where people reach routing's pages (contact overview, triage) and audit's (console, report)
    # when the services listen on another address than the one in a link (0.0.0.0 in containers).
    routing_public_url: str | None = None
    audit_public_url: str | None = None
    notify_public_url: str | None = (
        None  # staff hand-offs to notify (a coordinator's address change)
    )
    response_deadline: Duration = timedelta(hours=24)
    # A crisis question's clock (opendeur/deadlines.py): the team's opening hours (Amsterdam
    # time, `ma-vr 09:00-17:00`; several windows with `;`) and how soon within them.
    team_hours: str = "ma-vr 09:00-17:00"
    # Days the team is closed: `nl` (the Dutch public holidays) and/or dates, comma-separated.
    team_holidays: str = "nl"
    crisis_respond_within: Duration = timedelta(hours=4)
    pii_retention: Duration = timedelta(hours=48)
    unanswered_retention: Duration = timedelta(days=30)
    link_ttl: Duration = timedelta(days=7)
    # Intake's key store (opendeur/keystore.py): file:PATH; unset is DATA_DIR/intake-keys.
    intake_keystore: str | None = None
    # A callback link lives until the question's deadline plus this grace, never longer.
    link_grace: Duration = timedelta(hours=24)
    # An erased question's stripped row (reference, times, status) goes after this.
    erased_retention: Duration = timedelta(days=7)
    # Retention (README, "What is kept, and for how long"): the events stream and dead letters
    # (unset: the contract's 14d and 30d), notify's addresses of contact persons who left, the
    # audit trail (whole months older than this are pruned; monthly aggregates stay).
    events_max_age: Duration | None = None
    deadletter_max_age: Duration | None = None
    contact_grace: Duration = timedelta(days=7)
    audit_retention: Duration = timedelta(days=730)
    team_email: str = "team@zelfhulpnetwerk.invalid"
    # More distinct questions than this opened through one contact within an hour raises an
    # alert to the team and holds that contact's further views until the team clears it
    # (docs/threat-model.md: a forged callback link). A link opens only while the question is
    # the contact's, and a contact has at most 20 open callbacks (routing's MAX_CAPACITY): going
    # past 20 in an hour means calls finished and new questions received meanwhile, at a
    # quarter of an hour or more per call. Lower it where contacts take fewer questions.
    contact_view_alert: int = Field(default=20, ge=1, le=1000)
    # The network's own contact details for help-seekers; unset means the pages say nothing.
    network_name: str | None = None
    network_phone: str | None = None
    network_email: str | None = None
    # The network's own colour (#rrggbb) for headers, buttons and links on every page; it must
    # keep white button text readable (contrast at least 4.5:1, WCAG AA).
    network_colour: str = "#205080"
    # Where "Snel weg" / "Quick exit" takes a help-seeker: a neutral page.
    quick_exit_url: str = Field(default="https://www.google.nl/", pattern=r"^https?://[^\s\"'<>]+$")
    # Addresses/CIDRs (comma-separated) whose X-Forwarded-For is believed; none by default.
    trusted_proxies: str = ""
    # Bearer token for GET /metrics from anywhere but loopback (compared as a hash).
    metrics_token: SecretStr | None = None
    # Phone-console sessions: idle timeout and absolute lifetime.
    phone_session_idle: Duration = timedelta(minutes=30)
    phone_session_max: Duration = timedelta(hours=12)
    host: str = "127.0.0.1"
    intake_port: int = 8080
    routing_port: int = 8081
    notify_port: int = 8082
    audit_port: int = 8083
    mailbox_port: int = 8025
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "INFO"
    # Intake's front door and sign-in (services/intake/ratelimit.py): questions per address,
    # sign-in tries per name from one address and per address; `off` for none. Trusted
    # frontends that may speak for many people: `name:<sha256 hex of its key>:100/min,...`.
    intake_rate: str = Field(default="20/min", pattern=RATE_PATTERN)
    intake_login_rate: str = Field(default="5/min", pattern=RATE_PATTERN)
    intake_login_address_rate: str = Field(default="60/min", pattern=RATE_PATTERN)
    intake_frontend_keys: str = ""
    # The longest a service waits for one database statement (seconds, or 30s, 2m). A database
    # that goes silent without closing the connection (a host gone, a failover) then fails the
    # statement, and the relay, the consumers and the timers go on with a new connection;
    # before, they waited for ever while /healthz stayed green. Audit's monthly reports have 15
    # minutes (Runtime.slow_sessions) and its retention none: long statements over a month.
    db_command_timeout: Seconds = timedelta(seconds=60)
    # How often intake's erasure sweep runs (seconds, or 30s, 5m).
    sweep_interval: Seconds = timedelta(seconds=30)
    # How often the help-seekers' follow-up answers are published, together and shuffled.
    followup_batch: Duration = timedelta(hours=24)
    # Notify's delivery (seconds, or 90s, 5m): the retry back-off's base (full jitter, 5
    # attempts), parallel sends, one send's time-out, how long a send may stay unrecorded before
    # the team is asked to check it by hand (longer than the time-out), the local hour of the
    # team's daily breach digest (`off`: none).
    notify_retry_base: Seconds = timedelta(seconds=2)
    notify_concurrency: int = Field(default=16, ge=1, le=256)
    notify_send_timeout: Seconds = timedelta(seconds=10)
    notify_stuck_after: Seconds = timedelta(seconds=300)
    notify_digest_hour: int | None = Field(default=8, ge=0, le=23)
    # A generic HTTP SMS gateway (opendeur/sms.py): its URL, an auth header `Name: value`, a
    # JSON body template with {to} and {text}. Notify sends contact persons SMS through it, intake
    # the help-seeker's own confirmation (retry back-off base, full jitter, 12 tries). Without a
    # URL no SMS is sent and the form offers none.
    sms_url: str | None = None
    # The help-seekers' own SMS confirmations: at most this many an hour (one per number a day).
    sms_per_hour: int = Field(default=100, ge=1, le=100_000)
    sms_auth_header: SecretStr | None = None
    sms_body_template: str | None = None
    sms_retry_base: Seconds = timedelta(seconds=2)
    # Audit's ingest batch (messages at once); unset: the contract's (contracts/streams.py).
    audit_batch: int | None = Field(default=None, ge=1, le=100_000)
    # Fault injection for the recovery tests (opendeur.messaging.crash_point): the process
    # dies at the named point once per data directory. Never set in production.
    failpoint: str | None = None

    def model_post_init(self, _ctx: object) -> None:
        for name in (
            "secret_key",
            "master_keys",
            "admin_token",
            "nats_password",
            "database_url",
            "metrics_token",
            *SECRET_FIELDS,
        ):
            if getattr(self, name) is None:
                value = _read_secret_file(f"OPENDEUR_{name.upper()}")
                if value:
                    plain = name.endswith("database_url") or name.startswith("link_verify")
                    object.__setattr__(self, name, value if plain else SecretStr(value))

    @field_validator("network_colour")
    @classmethod
    def _network_colour(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
            raise ValueError("OPENDEUR_NETWORK_COLOUR must be a colour like #205080")
        if contrast_with_white(v) < 4.5:
            raise ValueError(
                "OPENDEUR_NETWORK_COLOUR is too light: white text on it would be hard to read "
                "(contrast below 4.5:1); choose a darker colour"
            )
        return v.lower()

    @field_validator("team_hours")
    @classmethod
    def _team_hours(cls, v: str) -> str:
        from opendeur.deadlines import parse_hours  # it imports this module

        parse_hours(v)
        return v

    @field_validator("team_holidays")
    @classmethod
    def _team_holidays(cls, v: str) -> str:
        from opendeur.deadlines import parse_holidays  # it imports this module

        parse_holidays(v)
        return v

    @field_validator("events_max_age", "deadletter_max_age")
    @classmethod
    def _stream_age(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(days=1):
            raise ValueError("a stream keeps messages at least 1d (redelivery, replay)")
        return v

    @field_validator("audit_retention")
    @classmethod
    def _audit_retention(cls, v: timedelta) -> timedelta:
        if v < timedelta(days=AUDIT_RETENTION_FLOOR_DAYS):
            raise ValueError(f"the audit trail is kept at least {AUDIT_RETENTION_FLOOR_DAYS}d")
        return v

    @field_validator("notify_digest_hour", mode="before")
    @classmethod
    def _digest_hour(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() in ("", "off", "none"):
            return None
        return v

    @model_validator(mode="after")
    def _stuck_after_send(self) -> Settings:
        if self.notify_stuck_after <= self.notify_send_timeout:
            raise ValueError("OPENDEUR_NOTIFY_STUCK_AFTER must be longer than the send timeout")
        return self

    @property
    def deadline(self) -> timedelta:
        return self.response_deadline

    def port(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def base_url(self, service: str) -> str:
        public = {
            "intake": self.public_base_url,
            "routing": self.routing_public_url,
            "audit": self.audit_public_url,
            "notify": self.notify_public_url,
        }.get(service)
        if public:
            return public.rstrip("/")
        return f"http://{self.host}:{self.port(service)}"

    def proxies(self) -> list[str]:
        """OPENDEUR_TRUSTED_PROXIES as a list (empty: no proxy header is believed)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def service_database_url(self, service: str) -> str | None:
        return getattr(self, f"{service}_database_url")


@lru_cache
def get_settings() -> Settings:
    return Settings()
