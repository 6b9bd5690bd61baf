"""The console's static assets: all there as package data, and none that could make the page
reach outside the node (no absolute URL, no inline script or style the CSP would refuse)."""

from __future__ import annotations

import re

from isthmus.console.routes import ASSETS, SECURITY_HEADERS, asset


def test_every_asset_is_package_data_and_refers_only_to_the_node() -> None:
    for name in ASSETS:
        text = asset(name).decode()
        assert text.strip(), name
        # Only the SVG namespace (an identifier, never fetched) may look like a URL.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (name, urls)
    page = asset("index.html").decode()
    assert "<script>" not in page and "style=" not in page and "<style" not in page
    assert re.findall(r'(?:src|href)="(/[^"]+)"', page) == [
        "/_isthmus/console/static/console.css",
        "/_isthmus/console/static/console.js",
    ]


def test_the_content_security_policy_allows_the_node_only() -> None:
    policy = dict(
        part.strip().split(" ", 1)
        for part in SECURITY_HEADERS["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'"
