"""Checks the DOM that headless chromium rendered from orderly's /docs.

    python docs_dom_check.py OPENAPI_JSON DOM_HTML [NETLOG_JSON]

- every operation (method and path) of the served OpenAPI document is an
  operation block in the page (Swagger UI: div.opblock.opblock-<method>
  holding span.opblock-summary-path[data-path]), and every tag is a section
  (h3.opblock-tag[data-tag]);
- the page shows no Swagger UI error box ("Failed to load API definition");
- with a net log (chromium --log-net-log), the page asked for nothing but
  loopback: every request the page initiated, to any host other than
  127.0.0.1, is listed and fails the check (the page must work with no
  internet, so it must not even try). Chromium's own requests (update
  checks and the like, initiator "not an origin") are not the page's and
  are only counted.
"""

from __future__ import annotations

import html
import json
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SwaggerDom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.operations: set[tuple[str, str]] = set()
        self.tags: set[str] = set()
        self._method: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "opblock" in classes:
            self._method = next((c[len("opblock-") :] for c in classes if c[len("opblock-") :] in METHODS), None)
        if any(c.startswith("opblock-summary-path") for c in classes) and "data-path" in attributes:
            self.operations.add(((self._method or "?").upper(), attributes["data-path"]))
        if "opblock-tag" in classes and attributes.get("data-tag"):
            self.tags.add(attributes["data-tag"])


def error_boxes(dom_text: str) -> list[str]:
    """Text of Swagger UI's error boxes (.errors-wrapper), if any."""
    boxes = []
    for match in re.finditer(r'<\w+ class="[^"]*\berrors-wrapper\b[^"]*"', dom_text):
        text = re.sub(r"<[^>]+>", " ", dom_text[match.start() : match.start() + 2000])
        boxes.append(" ".join(html.unescape(text).split())[:300])
    if not boxes and "Failed to load API definition" in dom_text:
        boxes.append("Failed to load API definition")
    return boxes


def page_requests(netlog_path: str) -> tuple[list[str], list[str]]:
    """(non-loopback URLs the page asked for, non-loopback URLs chromium itself asked for)."""
    with open(netlog_path, encoding="utf-8") as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page, browser = set(), set()
    for event in log.get("events", []):
        if names.get(event.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params") or {}
        url = params.get("url", "")
        if urlsplit(url).hostname in ("127.0.0.1", None) or not url.startswith(("http:", "https:", "ws:", "wss:")):
            continue
        # The page's own requests (scripts, styles, fonts, images, fetches)
        # name it as their initiator; chromium's (update checks, autofill
        # queries about the page, ...) are "not an origin".
        initiator = params.get("initiator") or ""
        (page if urlsplit(initiator).hostname == "127.0.0.1" else browser).add(url)
    return sorted(page), sorted(browser)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        dom_text = f.read()

    wanted_ops = set()
    wanted_tags = set()
    for path, item in (document.get("paths") or {}).items():
        for method, operation in item.items():
            if method in METHODS:
                wanted_ops.add((method.upper(), path))
                wanted_tags.update(operation.get("tags") or ["default"])

    dom = SwaggerDom()
    dom.feed(dom_text)
    problems = []
    errors = error_boxes(dom_text)
    if errors:
        problems.append("Swagger UI shows an error: " + " | ".join(errors))
    missing_ops = sorted(wanted_ops - dom.operations, key=lambda mp: (mp[1], mp[0]))
    if missing_ops:
        problems.append(
            f"{len(missing_ops)} of {len(wanted_ops)} operations of /openapi.json are not on the page: "
            + ", ".join(f"{m} {p}" for m, p in missing_ops)
        )
    missing_tags = sorted(wanted_tags - dom.tags)
    if missing_tags:
        problems.append(f"tag sections missing from the page: {', '.join(missing_tags)}")
    extra = sorted(dom.operations - wanted_ops)
    if extra:
        print(f"docs: note: the page shows operations not in /openapi.json: {extra}")

    if len(sys.argv) > 3:
        page, browser = page_requests(sys.argv[3])
        if page:
            problems.append(
                f"the page tried {len(page)} non-loopback request(s) (blocked here; they would need internet): "
                + ", ".join(page)
            )
        print(
            f"docs: non-loopback requests: {len(page)} by the page, "
            f"{len(browser)} by chromium itself (background, blocked)"
        )

    print(
        f"docs: page shows {len(dom.operations & wanted_ops)}/{len(wanted_ops)} operations, "
        f"tags {sorted(dom.tags)}, DOM {len(dom_text)} bytes"
    )
    for problem in problems:
        print(f"docs: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
