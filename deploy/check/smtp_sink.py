"""The deploy check's SMTP sink: every message notify sends, one .eml file each in MAIL_DIR."""

import os
import signal
import time
from pathlib import Path

from aiosmtpd.controller import Controller

MAIL_DIR = Path(os.environ.get("MAIL_DIR", "/mail"))


class Store:
    async def handle_DATA(self, _server, _session, envelope) -> str:
        (MAIL_DIR / f"{time.time_ns()}.eml").write_bytes(
            envelope.original_content or envelope.content
        )
        return "250 OK"


if __name__ == "__main__":
    controller = Controller(Store(), hostname="0.0.0.0", port=2525)
    controller.start()
    print("smtp sink on :2525", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
