"""deploy/check.sh's look at the broker from inside the network, as an intruder would try it."""

import asyncio
import os
import ssl
import sys

import nats
from nats.errors import Error as NatsError

URL = "tls://nats-1:4222"
CA = os.environ["CA_FILE"]


async def quiet(_exc: Exception) -> None:
    """nats-py prints every refused attempt's traceback otherwise; the outcome is printed below."""


async def attempt(what: str, expect_ok: bool, url: str = URL, **kwargs) -> object:
    kwargs.setdefault("error_cb", quiet)
    try:
        nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False, **kwargs)
    except (TimeoutError, NatsError, OSError, ssl.SSLError) as exc:
        outcome = f"refused ({type(exc).__name__})"
        nc = None
    else:
        outcome = "connected"
    print(f"  {what}: {outcome}", flush=True)
    if (nc is not None) != expect_ok:
        sys.exit(f"FAILED: {what}")
    return nc


async def main() -> None:
    trusted = ssl.create_default_context(cafile=CA)
    await attempt("plain nats:// (no TLS)", False, url="nats://nats-1:4222")
    await attempt("tls:// without the broker's CA", False)
    await attempt("tls:// without an account", False, tls=trusted)
    wrong = {"user": "intake", "password": "guessed"}
    await attempt("tls:// with a wrong password", False, tls=trusted, **wrong)
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await attempt(
        "tls:// as intake",
        True,
        tls=trusted,
        user="intake",
        password=os.environ["INTAKE_NATS_PASSWORD"],
        error_cb=on_error,
        inbox_prefix=b"_INBOX_intake",
    )
    await nc.publish("question.routed.v1", b"{}")  # routing's subject, not intake's
    await nc.flush()
    await asyncio.sleep(1)
    print(f"  intake publishing routing's question.routed.v1: {errors or 'ACCEPTED'}", flush=True)
    if not any("permissions violation" in e.lower() for e in errors):
        sys.exit("FAILED: intake may publish routing's subject")
    await nc.close()
    print("BROKER OK", flush=True)


asyncio.run(main())
