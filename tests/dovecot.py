"""A private Dovecot IMAP server for tests: its own config, users, maildirs, logs and sockets in a
temporary directory, listening on 127.0.0.1 at a free port. No system service, no system config.

Needs Debian's `dovecot-imapd` (which brings `dovecot-core`). As root, mail is kept as `nobody`
(Dovecot never gives mail processes uid 0); otherwise everything runs as the current user.

    server = Dovecot()
    server.add_user("support@example.com", "secret")
    server.start()
    server.deliver("support@example.com", raw)       # as an MTA would: a file in maildir new/
    server.append("support@example.com", raw)        # or IMAP APPEND from another client
    server.messages("support@example.com", "INBOX")  # [(uid, flags, Message-ID), ...]
    server.stop()
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import email.parser
import email.policy
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from itertools import groupby
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_UID = re.compile(rb"UID (\d+)")


class DovecotError(RuntimeError):
    """The test IMAP server could not be started or stopped."""


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), made with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def mutf7(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3)."""
    out = []
    for printable, run in groupby(name, key=lambda c: 0x20 <= ord(c) <= 0x7E):
        text = "".join(run)
        if printable:
            out.append(text.replace("&", "&-"))
        else:
            b64 = base64.b64encode(text.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
    return "".join(out)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Dovecot:
    """One private Dovecot master process (`dovecot -F -c <root>/dovecot.conf`)."""

    def __init__(self, tls: bool = False, capabilities: str | None = None) -> None:
        """`tls`: an IMAPS listener too (`tls_port`, self-signed `cert`); `capabilities`: what
        the server announces instead of its own list (to play an older server)."""
        self.capabilities = capabilities
        self.root = Path(tempfile.mkdtemp(prefix="fd-dovecot-"))
        self.root.chmod(0o755)  # mail processes run as another user and must reach mail/
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.cert: Path | None = None
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            self.uid, self.gid = mail_user.pw_uid, mail_user.pw_gid
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
        for sub in ("run", "state", "mail", "home", "users"):
            (self.root / sub).mkdir()
        for sub in ("mail", "home"):
            os.chown(self.root / sub, self.uid, self.gid)
        if tls:
            self.cert, key = make_certificate(self.root)
            key.chmod(0o644)
        (self.root / "dovecot.conf").write_text(self._config())

    # -- configuration --------------------------------------------------------------------------
    def _config(self) -> str:
        r = self.root
        me = pwd.getpwuid(os.geteuid()).pw_name
        internal = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        tls = (
            f"ssl = yes\nssl_cert = <{r / 'cert.pem'}\nssl_key = <{r / 'key.pem'}\n"
            if self.cert
            else "ssl = no\n"
        )
        return f"""\
base_dir = {r / "run"}
state_dir = {r / "state"}
log_path = {r / "dovecot.log"}
instance_name = frontdesk-test-{self.port}
protocols = imap
listen = 127.0.0.1
{"" if os.geteuid() == 0 else internal}{tls}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{r / "mail"}/%u
mailbox_idle_check_interval = 1 secs
{f"imap_capability = {self.capabilities}" if self.capabilities else ""}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r / "users"}/%u
}}
userdb {{
  driver = passwd-file
  args = {r / "users"}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""

    def add_user(self, user: str, password: str) -> None:
        """Add a mail user: a passwd-file of its own (Dovecot caches a file it has read)."""
        if "/" in user or user.startswith("."):
            raise DovecotError(f"not a user name for a file: {user!r}")
        self._users[user] = password
        path = self.root / "users" / user
        home = self.root / "home"
        path.write_text(f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::\n")
        path.chmod(0o644)

    # -- life cycle -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the master process and wait until the IMAP port greets."""
        if self.running:
            raise DovecotError("already running")
        log = (self.root / "stdout.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # its own process group: stop() ends the children too
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DovecotError(f"dovecot exited at start: {self.log_tail()}")
            if self._greets():
                return
            time.sleep(0.05)
        self.stop()
        raise DovecotError(f"dovecot did not answer within {timeout_s}s: {self.log_tail()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to the master and its children at once (an imap process left alone notices
        that its master is gone only after about 10 s), SIGKILL if they linger."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any child that outlived its master
        # its children leave when the master is gone; wait until the port is free again
        deadline = time.monotonic() + timeout_s
        while self._greets() and time.monotonic() < deadline:
            time.sleep(0.05)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("stdout.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- mail -----------------------------------------------------------------------------------
    def deliver(self, user: str, raw: bytes) -> Path:
        """Put a message into the user's INBOX as an MTA does: write it in maildir tmp/, then
        rename it into new/."""
        maildir = self.root / "mail" / user
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
            os.chown(maildir / sub, self.uid, self.gid)
        os.chown(maildir, self.uid, self.gid)
        name = f"{time.time_ns()}.P{os.getpid()}.frontdesk-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, self.uid, self.gid)
        target = maildir / "new" / name
        tmp.rename(target)
        return target

    def _login(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, self._users[user])
        return client

    def append(
        self, user: str, raw: bytes, folder: str = "INBOX", flags: str | None = None
    ) -> None:
        """IMAP APPEND from a second client, as another mail client would."""
        client = self._login(user)
        try:
            typ, data = client.append(f'"{mutf7(folder)}"', flags, None, raw)
            if typ != "OK":
                raise DovecotError(f"APPEND: {typ} {data!r}")
        finally:
            client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> list[tuple[int, set[str], str]]:
        """(UID, flags, Message-ID) of every message in `folder`, read by a second client."""
        client = self._login(user)
        try:
            typ, _ = client.select(f'"{mutf7(folder)}"', readonly=True)
            if typ != "OK":
                return []
            typ, data = client.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER])")
            out = []
            parser = email.parser.BytesHeaderParser(policy=email.policy.default)
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, header = item
                uid, flags = _UID.search(meta), _FLAGS.search(meta)
                message_id = str(parser.parsebytes(header).get("Message-ID", ""))
                found = set(flags[1].decode().split()) if flags else set()
                out.append((int(uid[1]) if uid else 0, found, message_id))
            return sorted(out)
        finally:
            client.logout()
