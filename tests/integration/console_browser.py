"""Headless Chromium for the web console's tests: Debian's ``chromium`` and ``chromium-driver``
(``scripts/install-browser``) driven by Selenium.

The browser signs in as a user the way a proxy or a saved login would: an ``Authorization``
header on every request (set through the DevTools protocol), so one browser can switch users
without a login prompt. Every response the page received is readable afterwards (the DevTools
performance log and ``Network.getResponseBody``): the secret test reads all of them.

Missing browser: the tests fail, loudly, naming the install script, unless
``ISTHMUS_SKIP_BROWSER=1`` is set (then they skip, saying why).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("ISTHMUS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ISTHMUS_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_or_fail() -> None:
    """Skip (only when asked to) or fail when the browser is not installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if not missing:
        return
    why = f"headless Chromium is missing: {', '.join(missing)}; run scripts/install-browser"
    if os.environ.get("ISTHMUS_SKIP_BROWSER") == "1":
        pytest.skip(f"ISTHMUS_SKIP_BROWSER=1: {why}")
    pytest.fail(why, pytrace=False)


class Browser:
    """One headless Chromium; ``sign_in`` sets the user every later request is sent as."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1500,1000",
            "--force-prefers-reduced-motion",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.execute_cdp_cmd("Network.enable", {})
        # Responses of the pages left behind (read before each navigation: a response's body
        # is gone once its page is).
        self.seen: list[tuple[str, str, dict[str, Any], str]] = []

    def sign_in(self, user: str, password: str) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
        )

    def open(self, url: str) -> None:
        self.seen.extend(self.responses())
        self.driver.get(url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, what: Callable[[], Any], timeout: float = 10.0, why: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = what()
            except Exception:  # the page is still changing: try again
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.js("return document.body.innerText")
                raise AssertionError(f"timed out waiting for {why or what}; page:\n{text}")
            time.sleep(0.05)

    def attr(self, selector: str, name: str) -> str | None:
        value = self.js(
            "const e = document.querySelector(arguments[0]); return e && e.getAttribute(arguments[1])",
            selector,
            name,
        )
        return None if value is None else str(value)

    def text(self, selector: str) -> str:
        return str(
            self.js(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                selector,
            )
        )

    def click(self, selector: str) -> None:
        self.js("document.querySelector(arguments[0]).click()", selector)

    def fill(self, selector: str, value: str) -> None:
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.CSS_SELECTOR, selector)
        field.clear()
        field.send_keys(value)

    def responses(self) -> Iterator[tuple[str, str, dict[str, Any], str]]:
        """Every response received since the last call: URL, status, headers, body."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] != "Network.responseReceived":
                continue
            params = message["params"]
            response = params["response"]
            try:
                body = self.driver.execute_cdp_cmd(
                    "Network.getResponseBody", {"requestId": params["requestId"]}
                )
                text = (
                    base64.b64decode(body["body"]).decode(errors="replace")
                    if body.get("base64Encoded")
                    else body["body"]
                )
            except Exception:  # no body (a 204, a redirect) or already evicted
                text = ""
            yield response["url"], str(response["status"]), response.get("headers", {}), text

    def keys(self, *names: str) -> None:
        """Press keys on the focused element (Selenium's ``Keys`` names: TAB, ENTER, ...);
        ``SHIFT_TAB`` is Shift+Tab."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        chain = ActionChains(self.driver)
        for name in names:
            if name == "SHIFT_TAB":
                chain.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
            else:
                chain.send_keys(getattr(Keys, name))
        chain.perform()

    def color_scheme(self, scheme: str) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        height = int(self.js("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(1500, max(700, min(height + 40, 2400)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1500, 1000)

    def close(self) -> None:
        self.driver.quit()
