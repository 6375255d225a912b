"""The web container's health check: the login page answers 200 from gunicorn.

It asks for the first of ALLOWED_HOSTS (Django refuses other Host headers when
DEBUG is off). Exit status 0: healthy; 1: not.
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


def check(url: str = URL, host: str | None = None, timeout: float = 5) -> bool:
    request = urllib.request.Request(url, headers={"Host": host or host_header()})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except OSError as error:  # URLError and HTTPError are OSErrors
        print(f"unhealthy: {error}", file=sys.stderr)
        return False


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
