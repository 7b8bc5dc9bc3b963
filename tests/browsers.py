"""Headless chromium for the screens' tests, driven by selenium through Debian's chromedriver:
each browser with a fresh profile of its own (its own cookies), none of chromium's own network
chatter, and no throttling of windows in the background. A missing chromium fails the test
(`apt-get install chromium chromium-driver fonts-wqy-microhei`), it never skips."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 20.0
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows", "--hide-scrollbars",
    "--force-device-scale-factor=1",
)  # fmt: skip


def chromium(profile: Path, size: tuple[int, int] = (1280, 800)) -> WebDriver:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists() and shutil.which(Path(binary).name) is None:
            pytest.fail(f"{binary} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(WAIT_S)
    return driver


def until(driver: WebDriver, what: str, check: Callable[[WebDriver], Any]) -> Any:
    """`check(driver)` once it is truthy (an explicit wait, polled by selenium); fails naming
    `what` after WAIT_S."""
    ignored = (NoSuchElementException, StaleElementReferenceException)  # a re-rendered element
    wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.05, ignored_exceptions=ignored)
    return wait.until(check, f"waiting for {what}")


def click(driver: WebDriver, what: str, css: str) -> None:
    """Click the element `css` names, found again if the page drew it anew meanwhile (the
    screens re-render rows as events arrive)."""
    until(driver, what, lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True)
