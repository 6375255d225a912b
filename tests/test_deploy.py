"""Production security settings: `check --deploy` is clean with the docker settings,
the HTTPS headers and cookies follow the environment, every page carries a CSP that
no template needs to weaken with an inline script."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.template.loaders.app_directories import get_app_template_dirs

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
SECURITY = {
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
}


def env_example() -> dict[str, str]:
    lines = (DOCKER / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def compose_environment() -> dict[str, str]:
    """The web service's environment as compose gives it with env.example as .env."""
    web = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["web"]
    given = env_example()

    def substitute(match: re.Match) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3) or ""
        if name in given:
            return given[name]
        if operator == ":?":
            raise AssertionError(f"{name} is required and env.example lacks it")
        return default

    pattern = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
    return {key: pattern.sub(substitute, str(value)) for key, value in web["environment"].items()}


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**keep, **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_docker_turns_every_https_setting_on():
    environment = compose_environment()
    assert set(environment) >= SECURITY
    assert environment["SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"
    assert int(environment["SECURE_HSTS_SECONDS"]) >= 31536000
    for name in SECURITY - {"SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS"}:
        assert environment[name] == "true", name
    assert set(env_example()) >= SECURITY


def test_check_deploy_is_clean_with_the_docker_environment():
    environment = compose_environment()
    # env.example's key is a placeholder (too short on purpose); a real one is long.
    environment["SECRET_KEY"] = secrets.token_urlsafe(64)
    result = check_deploy(environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # The same without the HTTPS settings warns: the check above can fail.
    bare = {k: v for k, v in environment.items() if k not in SECURITY}
    result = check_deploy(bare)
    assert result.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stdout + result.stderr


def test_https_redirect_hsts_and_secure_cookies_follow_the_settings(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.CSRF_COOKIE_SECURE = True
    plain = client.get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies["csrftoken"]["secure"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/api/v1/no-such-thing/", "/admin/login/"])
def test_every_response_carries_the_content_security_policy(client, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert policy == django_settings.CONTENT_SECURITY_POLICY
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


def test_the_policy_can_be_report_only_or_off(client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = True
    response = client.get("/login/")
    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = ""
    response = client.get("/login/")
    assert "Content-Security-Policy" not in response
    assert "Content-Security-Policy-Report-Only" not in response


def template_files() -> list[Path]:
    dirs = [Path(d) for d in django_settings.TEMPLATES[0]["DIRS"]]
    # Our apps' templates: under the repository, and not an installed package (a
    # virtualenv may live inside the repository, as `make` creates .venv there).
    ours = [
        Path(d)
        for d in get_app_template_dirs("templates")
        if ROOT in Path(d).parents and "site-packages" not in Path(d).parts
    ]
    return sorted(f for d in dirs + ours for f in d.rglob("*.html"))


def test_no_template_has_an_inline_script_or_event_handler():
    """script-src 'self' would block them: every script is a static file."""
    files = template_files()
    assert any(f.name == "base.html" for f in files)
    offenders = []
    for path in files:
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.IGNORECASE):
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(ROOT)}: {tag}")
        if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text:
            offenders.append(f"{path.relative_to(ROOT)}: an inline event handler")
    assert not offenders, offenders


def test_the_health_check_passes_behind_the_https_redirect(monkeypatch):
    """gunicorn behind the proxy redirects plain http (SECURE_SSL_REDIRECT): the check
    says what the proxy says. A stand-in server answers as SecurityMiddleware does."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("X-Forwarded-Proto") == "https":
                self.send_response(200)
            else:
                self.send_response(301)
                self.send_header("Location", f"https://{self.headers['Host']}{self.path}")
            self.end_headers()

        def log_message(self, *args):
            pass

    spec = importlib.util.spec_from_file_location("healthcheck", DOCKER / "healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/login/"
    try:
        monkeypatch.setenv("ALLOWED_HOSTS", "localhost")
        monkeypatch.delenv("SECURE_PROXY_SSL_HEADER", raising=False)
        assert not healthcheck.check(url, timeout=2)  # 301 to https: unhealthy
        monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO,https")
        assert healthcheck.proxy_headers() == {"X-Forwarded-Proto": "https"}
        assert healthcheck.check(url, timeout=2)
    finally:
        server.shutdown()
        server.server_close()
