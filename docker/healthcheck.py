"""The web container's health check: the login page answers 200 from gunicorn.

It asks for the first of ALLOWED_HOSTS (Django refuses other Host headers when
DEBUG is off). It talks to gunicorn directly, behind the TLS proxy, so it says what
the proxy says (SECURE_PROXY_SSL_HEADER, e.g. X-Forwarded-Proto: https); otherwise
SECURE_SSL_REDIRECT would answer 301 to https. Exit status 0: healthy; 1: not.
"""

from __future__ import annotations

import os
import sys
import urllib.request

URL = "http://127.0.0.1:8000/login/"


def host_header() -> str:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0] if hosts else "localhost"
    return "localhost" if host == "*" else host.lstrip(".")


def proxy_headers() -> dict[str, str]:
    """The header the TLS proxy adds, as SECURE_PROXY_SSL_HEADER names it."""
    parts = [p.strip() for p in os.environ.get("SECURE_PROXY_SSL_HEADER", "").split(",")]
    if len(parts) != 2 or not parts[0].startswith("HTTP_"):
        return {}
    return {parts[0].removeprefix("HTTP_").replace("_", "-").title(): parts[1]}


def check(url: str = URL, host: str | None = None, timeout: float = 5) -> bool:
    headers = {"Host": host or host_header(), **proxy_headers()}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except OSError as error:  # URLError and HTTPError are OSErrors
        print(f"unhealthy: {error}", file=sys.stderr)
        return False


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
