"""A local SMTP server on loopback (aiosmtpd) that keeps what it receives, for alert tests."""
from __future__ import annotations

import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller

from tests.browser import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's handler name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def wait_for(self, count: int = 1, seconds: float = 10) -> list[Message]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class LocalSmtp:
    """`with LocalSmtp() as smtp:` a server at smtp.port whose mail lands in smtp.inbox."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> LocalSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def routes_file(self, folder: Path, routes: list[dict]) -> dict[str, str]:
        """A routes file sending e-mail through this server; the environment that names it."""
        path = folder / "alert-routes.yaml"
        path.write_text(yaml.safe_dump({"smtp": {"host": "127.0.0.1", "port": self.port, "from": "rollcall@localhost"},
                                        "service_url": "https://rollcall.example", "routes": routes}))
        return {"ROLLCALL_ALERT_ROUTES": str(path)}

    def env(self, folder: Path, officers: str) -> dict[str, str]:
        """Access alerts to privacy officers: officers as "880=address,881=address" ("*" for all)."""
        routes = []
        for part in officers.split(","):
            la, address = part.split("=", 1)
            routes.append({"alerts": ["access"], "email": [address],
                           **({} if la == "*" else {"authorities": [la]})})
        return self.routes_file(folder, routes)
