"""What the SMTP intake tests share: a channel on the `front` fixture's Front, the mail a
customer sends, and one real SMTP transaction that returns the request ids of its 250 reply."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

from frontdesk.channels.mail.smtp import SmtpChannel, create
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.front import Front

SUPPORT = "support@example.com"
SMTP_SECTION = """\
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    addresses:
      support@example.com: {}
"""


@asynccontextmanager
async def smtp_channel(settings: Settings, front: Front) -> AsyncIterator[SmtpChannel]:
    """The config's SMTP channel, listening for the block."""
    channel = create(settings.channels["smtp"], front)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


def mail(subject: str, body: str, msgid: str, **headers: str) -> EmailMessage:
    """Li Na's mail to support; `In_Reply_To="..."` and the like become headers."""
    m = EmailMessage()
    m["From"], m["To"] = "Li Na <li@example.com>", SUPPORT
    m["Subject"], m["Message-ID"] = subject, msgid
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


def transaction(channel: SmtpChannel, raw: bytes, sender: str) -> tuple[int, str]:
    """One SMTP transaction to support: the reply to DATA."""
    assert channel.address is not None
    with smtplib.SMTP(*channel.address, timeout=30) as client:
        client.ehlo("client.test")
        assert client.mail(sender)[0] == 250
        assert client.rcpt(SUPPORT)[0] == 250
        code, text = client.data(raw)
    return code, text.decode()


async def send(
    channel: SmtpChannel, message: EmailMessage, sender: str = "li@example.com"
) -> list[str]:
    """Send `message` (off the event loop) and return the request ids its 250 reply names."""
    code, text = await asyncio.to_thread(transaction, channel, message.as_bytes(), sender)
    assert code == 250, (code, text)  # acknowledged: the sender never retries it
    return re.findall(r"FD-\d+", text)
