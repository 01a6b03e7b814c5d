"""A tiny HTTP client for the service tests: HTTP errors are answers, not exceptions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def call(url: str, data: bytes | None = None, headers: dict | None = None,
         content_type: str = "application/json", timeout: float = 120) -> tuple[int, dict | str]:
    """Status and JSON (or text) of a GET, or of a POST when data is given."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type,
                                                             **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body
