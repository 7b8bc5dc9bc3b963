"""The agent desk and the supervisor wall in real headless chromium, on a real `frontdesk serve`
(its dispatcher offers the chat), with a customer on the real chat widget of the daemon's demo
page in another window: the agent signs in and goes available, a chat arrives, the offer shows,
the agent accepts with the `a` key, replies, the customer's widget shows the reply, the agent
completes; the wall (another browser, in Chinese) showed the request waiting, then the agent
busy. Screenshots of every window go to the test's tmp dir on failure; on success the desk and
the wall are saved as docs/screens/*.png for the README."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from browsers import chromium, click, until
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from frontdesk.router.http.auth import digest, new_token

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screens"
MAX_PNG = 150 * 1024
BUSY = "[data-agent=ann][data-busy='1'] [data-held]"  # the wall's row of ann, holding work
SITE = "site-demo-7c21"
ELSEWHERE = "site-typo-90ab"  # a page embedding the widget with a key no site has
TOKENS = {"ann": new_token(), "sup": new_token()}
QUESTION = "我的发票抬头开错了，能帮我重开吗？"
REPLY = "您好，我来帮您处理发票 — I'll reissue it today."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(url: str, port: int) -> str:
    return f"""\
tenant: browser
redis: {{url: "{url}"}}
http: {{host: 127.0.0.1, port: {port}}}
skills: [billing]
queues:
  general: {{}}
  chat: {{offer_timeout: 120s}}
default_queue: general
rules:
  - {{name: web-chat, when: {{channel: chat}}, then: {{queue: chat}}}}
agents:
  - {{id: ann, name: Ann Lee, skills: {{billing: 4}}, capacity: {{chat: 3, email: 5}},
     presence: offline}}
  - {{id: bo, name: 王博, skills: {{billing: 2}}, capacity: {{chat: 2}}, presence: away}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
sla:
  policies:
    - name: chat
      when: {{channel: chat}}
      targets: {{first_response: 30s, resolution: 15m}}
channels:
  chat:
    sites:
      - {{key: {SITE}, origins: ["http://127.0.0.1:{port}"], entry_point: web-chat}}
"""


def sign_in(driver: WebDriver, base: str, screen: str, token: str, query: str = "") -> None:
    driver.get(f"{base}/{screen}/{query}")
    field = until(driver, f"the {screen}'s sign-in", lambda d: _shown(d, "#signin-token"))
    field.send_keys(token, Keys.ENTER)
    until(driver, f"the {screen} after sign-in", lambda d: _shown(d, "#app"))


def _shown(driver: WebDriver, css: str):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else None


def _text(driver: WebDriver, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def widget(driver: WebDriver):
    found = until(
        driver,
        "the chat widget",
        lambda d: d.find_elements(By.CSS_SELECTOR, "[data-frontdesk-chat]"),
    )
    return found[0].shadow_root


def _save(driver: WebDriver, path: Path) -> None:
    assert driver.save_screenshot(str(path)), path
    size = path.stat().st_size
    assert size < MAX_PNG, f"{path.name} is {size} bytes"


@pytest.fixture
def browsers(tmp_path: Path):
    started: dict[str, WebDriver] = {}

    def start(name: str, size: tuple[int, int]) -> WebDriver:
        started[name] = chromium(tmp_path / f"profile-{name}", size)
        return started[name]

    yield start
    for driver in started.values():
        driver.quit()


def test_an_agent_takes_a_chat_on_the_desk_while_the_wall_watches(
    redis_server, redis, daemons, tmp_path, browsers
) -> None:
    port = free_port()
    path = tmp_path / "browser.yaml"
    path.write_text(config(redis_server.url, port))
    daemon = daemons(path)
    daemon.wait_ready()
    base = f"http://127.0.0.1:{port}"
    wall = browsers("wall", (1280, 600))
    desk = browsers("desk", (1280, 610))
    windows: dict[str, tuple[WebDriver, str]] = {}
    try:
        sign_in(wall, base, "wall", TOKENS["sup"], "?lang=zh")
        until(
            wall, "ann on the wall", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-agent=ann]")
        )
        windows["wall"] = (wall, wall.current_window_handle)

        sign_in(desk, base, "desk", TOKENS["ann"])
        windows["desk"] = (desk, desk.current_window_handle)
        until(desk, "the desk's socket", lambda d: "Live" in _text(d, "#live"))
        assert "Offline" in _text(desk, "#presence-label")

        desk.switch_to.new_window("window")  # the customer, on the daemon's own demo page
        windows["customer"] = (desk, desk.current_window_handle)
        desk.get(f"{base}/chat/?site={SITE}")
        chat = widget(desk)
        start = chat.find_element(By.CSS_SELECTOR, "form.start")
        until(desk, "the start form", lambda d: start.is_displayed())
        chat.find_element(By.CSS_SELECTOR, "form.start input[name=name]").send_keys("吴磊")
        chat.find_element(By.CSS_SELECTOR, "form.start textarea").send_keys(QUESTION)
        chat.find_element(By.CSS_SELECTOR, "form.start button").click()
        until(
            desk,
            "a place in the queue",
            lambda d: "number 1" in chat.find_element(By.CSS_SELECTOR, ".status").text,
        )

        until(
            wall,
            "the chat waiting on the wall",
            lambda d: d.find_elements(By.CSS_SELECTOR, "[data-queue=chat] [data-waiting='1']"),
        )

        desk.switch_to.window(windows["desk"][1])
        click(desk, "go available", "#go-available")
        offer = until(desk, "the offer", lambda d: _text(d, "[data-offer]"))
        assert "s left" in offer and "吴磊" in offer
        desk.find_element(By.TAG_NAME, "body").send_keys("a")  # the accept shortcut
        until(desk, "the thread", lambda d: QUESTION in _text(d, "#thread"))
        assert not desk.find_elements(By.CSS_SELECTOR, "[data-offer]")

        until(wall, "ann busy on the wall", lambda d: d.find_elements(By.CSS_SELECTOR, BUSY))
        until(
            wall,
            "the queue emptied",
            lambda d: d.find_elements(By.CSS_SELECTOR, "[data-queue=chat] [data-waiting='0']"),
        )

        reply = desk.find_element(By.ID, "reply")
        reply.send_keys(REPLY)
        reply.send_keys(Keys.CONTROL, Keys.ENTER)
        until(desk, "the reply in the thread", lambda d: REPLY in _text(d, "#thread .msg.agent"))
        assert desk.find_element(By.ID, "reply").get_attribute("value") == ""

        desk.switch_to.window(windows["customer"][1])
        until(
            desk,
            "the reply in the customer's widget",
            lambda d: any(
                REPLY in m.text for m in chat.find_elements(By.CSS_SELECTOR, ".msg.agent")
            ),
        )

        desk.switch_to.window(windows["desk"][1])
        shots = {"desk": tmp_path / "desk.png", "wall": tmp_path / "wall.png"}
        _save(desk, shots["desk"])
        _save(wall, shots["wall"])

        click(desk, "the complete tool", "details:has(form[data-tool=complete]) summary")
        form = desk.find_element(By.CSS_SELECTOR, "form[data-tool=complete]")
        form.find_element(By.NAME, "resolution").send_keys("invoice reissued")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        until(desk, "the request completed", lambda d: "Nothing in hand" in _text(d, "#work"))
        until(
            wall,
            "ann free again",
            lambda d: d.find_elements(By.CSS_SELECTOR, "[data-agent=ann][data-busy='0']"),
        )
        click(wall, "set ann away", "[data-agent=ann] [data-act=away]")  # the supervisor does
        until(desk, "ann away on her desk", lambda d: "Away" in _text(d, "#presence-label"))
        until(
            wall,
            "ann away on the wall",
            lambda d: d.find_elements(By.CSS_SELECTOR, "[data-agent=ann] .dot.away"),
        )
    except BaseException:
        for name, (driver, handle) in windows.items():
            try:
                driver.switch_to.window(handle)
                driver.save_screenshot(str(tmp_path / f"failed-{name}.png"))
            except Exception:  # a browser that died has nothing to show
                continue
        raise
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, shot in shots.items():
        (SHOTS / f"{name}.png").write_bytes(shot.read_bytes())


def test_a_chat_that_cannot_start_says_so_offers_a_retry_and_is_not_resent_unasked(
    redis_server, redis, daemons, tmp_path, browsers
) -> None:
    port = free_port()
    path = tmp_path / "browser.yaml"
    path.write_text(config(redis_server.url, port))
    daemons(path).wait_ready()
    customer = browsers("customer", (900, 700))
    try:
        customer.get(f"http://127.0.0.1:{port}/chat/?site={ELSEWHERE}")
        chat = widget(customer)
        chat.find_element(By.CSS_SELECTOR, "form.start textarea").send_keys(QUESTION)
        chat.find_element(By.CSS_SELECTOR, "form.start button").click()
        status = chat.find_element(By.CSS_SELECTOR, ".status")
        until(customer, "the refusal in words", lambda d: "could not start" in status.text)
        retry = chat.find_element(By.CSS_SELECTOR, ".retry")
        assert retry.is_displayed() and "Try again" in retry.text
        kept = customer.execute_script("return sessionStorage.getItem(arguments[0])",
                                       f"frontdesk-chat:{ELSEWHERE}")  # fmt: skip
        assert kept is None  # nothing left to send again by itself
        retry.click()  # the customer asks: it is tried again, and refused again in words
        until(customer, "the second refusal", lambda d: retry.is_displayed())
        customer.refresh()
        chat = widget(customer)
        state = customer.execute_script("return window.FrontdeskChat.state()")
        assert state["phase"] == "idle" and state["conversation"] is None
        start = chat.find_element(By.CSS_SELECTOR, "form.start")
        assert start.is_displayed()
    except BaseException:
        customer.save_screenshot(str(tmp_path / "failed-customer.png"))
        raise
