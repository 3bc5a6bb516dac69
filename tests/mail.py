"""A local SMTP server on loopback (aiosmtpd) that keeps what it receives, for alert tests."""
from __future__ import annotations

import time
from email import message_from_bytes
from email.message import Message

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

    def env(self, officers: str) -> dict[str, str]:
        return {"ROLLCALL_SMTP_HOST": "127.0.0.1", "ROLLCALL_SMTP_PORT": str(self.port),
                "ROLLCALL_ALERT_FROM": "rollcall@localhost", "ROLLCALL_PRIVACY_OFFICERS": officers}
