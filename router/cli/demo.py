"""`frontdesk demo`: a desk to play with, in one command.

    frontdesk demo [--dir frontdesk-demo] [--port 8080] [--smtp-port 2525] [--reset] [--no-serve]

The first run writes `<dir>/frontdesk.yaml`: the example config (its calendar, service levels,
rules, queues and agents, every agent offline until they sign in on the agent desk) with every
channel listening on loopback (web chat, web form, phone callbacks, Telegram and a signed generic
webhook, SMTP), the embedded Redis under `<dir>/var`, and API tokens of its own: one per agent,
a supervisor's and a quality reviewer's. Their secrets, and the channels' shared secrets, are
printed once, as shell `export` lines that the README's examples use; the file keeps only the
tokens' SHA-256 digests (and the channels' secrets, which the daemon needs). Later runs serve the
same desk with everything it holds. `--reset` throws the desk away and makes a new one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from pathlib import Path

from frontdesk.router.http.auth import digest, new_token

MARK = "# frontdesk demo desk"  # the first line of a config this command wrote
EXIT_USAGE = 64
CHAT_SITE = "site-3f9a0c1d2e4b"
FORM_SITE = "shop-7f3a9c2e1b"


def example_text() -> str:
    """The example config as shipped in the package."""
    from importlib import resources

    return resources.files("frontdesk.config").joinpath("frontdesk.example.yaml").read_text("utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk demo", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="frontdesk-demo", help="where the demo desk lives")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--smtp-port", type=int, default=2525, help="SMTP port (default 2525)")
    parser.add_argument("--reset", action="store_true", help="throw the desk away, make a new one")
    parser.add_argument("--no-serve", action="store_true", help="make the desk, do not start it")
    return parser


def agent_ids(text: str) -> list[str]:
    """The agents of the example config, in its order."""
    import yaml

    data = yaml.safe_load(text)
    return [str(a["id"]) for a in data.get("agents") or []]


def demo_config(text: str, directory: Path, port: int, smtp_port: int) -> tuple[str, list[str]]:
    """The demo config made from the example's `text`, and the shell lines that give its
    secrets (printed once)."""
    head, found, _ = text.partition("\nchannels:")
    if not found:
        raise ValueError("the example config has no channels: section (it must come last)")
    data_dir = (directory / "var").absolute()
    head = head.replace("  data_dir: var/frontdesk", f"  data_dir: {data_dir}", 1)
    head = head.replace("  port: 8080 ", f"  port: {port} ", 1)
    phone, telegram, partner = (secrets.token_urlsafe(24) for _ in range(3))
    people: list[tuple[str, str, str | None]] = [("supervisor", "supervisor", None)]
    people.append(("qa", "qa", None))
    people += [(agent, "agent", agent) for agent in agent_ids(text)]
    lines = [
        MARK + " (made by `frontdesk demo`: the example config with every channel on\n",
        "# loopback and tokens of its own). Its secrets were printed once, when it was made.\n",
    ]
    exports = []
    tokens = ["api:", "  tokens:"]
    for name, scope, agent in people:
        token = new_token()
        tokens += [f"    - name: {name}", f"      scope: {scope}", f"      sha256: {digest(token)}"]
        if agent:
            tokens.append(f"      agent: {agent}")
        exports.append(f"{_variable(name)}={token}")
    channels = f"""
channels:
  chat:
    sites:
      - key: {CHAT_SITE}
        origins: [https://www.example.com]   # and the daemon's own pages: its demo at /chat/
        entry_point: web-chat
    idle_timeout: 30m
  form:
    sites:
      - key: {FORM_SITE}
        origins: [https://www.example.com]
        entry_point: form:support
  phone:
    secret: {phone}
    default_country: "86"
    working_hours: desk                      # callbacks are held until the desk opens
  social:
    telegram: {{secret_token: {telegram}, bot: support_bot}}
    generic:
      partner-crm: {{secret: {partner}}}
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    hostname: frontdesk.localhost
    addresses:
      support@example.com: {{}}
      billing@example.com: {{entry_point: billing@example.com}}
      vip@example.com: {{entry_point: vip@example.com}}
      it@example.com: {{entry_point: it@example.com}}
"""
    exports += [f"PHONE_SECRET={phone}", f"TELEGRAM_SECRET={telegram}", f"PARTNER_SECRET={partner}"]
    body = "".join(lines) + head + "\n" + "\n".join(tokens) + "\n" + channels
    return body, exports


def _variable(name: str) -> str:
    """The shell variable of a token: SUP, QA, and the agent's id in capitals (LI_NA)."""
    if name == "supervisor":
        return "SUP"
    return name.upper().replace(".", "_").replace("-", "_")


def make(directory: Path, port: int, smtp_port: int) -> list[str]:
    """Write the demo desk's config under `directory` (readable by its owner only)."""
    body, exports = demo_config(example_text(), directory, port, smtp_port)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "frontdesk.yaml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(body)
    return exports


def greeting(path: Path, port: int, exports: list[str]) -> str:
    """What the first run prints: where to go, and the secrets, once."""
    base = f"http://127.0.0.1:{port}"
    agents = [e.split("=", 1)[0] for e in exports if e.split("=", 1)[0] not in _NOT_AGENTS]
    return "\n".join(
        [
            f"A demo desk is made: {path}",
            "",
            f"  agent desk   {base}/desk/      sign in with an agent's token (e.g. LI_NA below)",
            f"  wall         {base}/wall/      sign in with the supervisor's token (SUP)",
            f"  customer     {base}/chat/?site={CHAT_SITE}   the chat widget, as customers see it",
            "",
            "Tokens and secrets, shown this once (the config keeps only the tokens' digests).",
            "Paste these lines into your shell to run the README's examples as written:",
            "",
            *(f"export {line}" for line in exports),
            "export AGENT=$LI_NA",
            "",
            f"Agents ({', '.join(agents)}) are offline until they sign in on the agent desk.",
            "Lost the tokens? `frontdesk demo --reset` makes a new desk (and forgets this one).",
            "",
        ]
    )


_NOT_AGENTS = {"SUP", "QA", "PHONE_SECRET", "TELEGRAM_SECRET", "PARTNER_SECRET"}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    directory = Path(args.dir)
    path = directory / "frontdesk.yaml"
    if args.reset and directory.exists():
        if path.exists() and not path.read_text(encoding="utf-8").startswith(MARK):
            print(f"{path} was not made by frontdesk demo: not removed", file=sys.stderr)
            return EXIT_USAGE
        shutil.rmtree(directory)
    if path.exists():
        if not path.read_text(encoding="utf-8").startswith(MARK):
            print(f"{path} was not made by frontdesk demo; choose another --dir", file=sys.stderr)
            return EXIT_USAGE
        print(f"The demo desk in {directory} (its tokens were shown when it was made).")
    else:
        print(greeting(path, args.port, make(directory, args.port, args.smtp_port)))
    sys.stdout.flush()
    if args.no_serve:
        return 0
    from frontdesk.router.cli.main import serve

    return int(serve(str(path), "INFO"))
