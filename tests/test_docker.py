"""The production images and compose file, read without a Docker engine: every
service's command names a real module, Celery app or management command; every
environment variable given to the app is one that settings read; the web image runs
gunicorn as a non-root user with a health check that works."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import dj_database_url
import pytest
import yaml
from celery import Celery
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = {name for name, s in SERVICES.items() if "build" in s}
# Variables read outside settings.py: Django's and Python's own.
OTHER_READERS = {"DJANGO_SETTINGS_MODULE"}


def settings_environment() -> set[str]:
    """Every environment variable biobank/settings.py reads."""
    tree = ast.parse((ROOT / "biobank" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "dj_database_url.config":
            names.add(dj_database_url.DEFAULT_ENV)  # the variable it reads by default
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            environ_get = (
                isinstance(func, ast.Attribute)
                and func.attr == "get"
                and ast.unparse(func.value) == "os.environ"
            )
            helper = isinstance(func, ast.Name) and func.id in {"env_bool", "env_list"}
            if environ_get or helper:
                names.add(node.args[0].value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.add(ast.literal_eval(node.slice))
    return names


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def check_command(argv: list[str]) -> None:
    """Fail unless `argv` runs something that exists in this repository."""
    program, *args = argv
    if program == "gunicorn":
        module, _, attribute = args[0].partition(":")
        assert callable(getattr(importlib.import_module(module), attribute or "application"))
    elif program == "celery":
        assert args[0] == "-A"
        assert isinstance(importlib.import_module(args[1]).celery_app, Celery)
        assert args[2] in {"worker", "beat", "inspect"}
        if "--scheduler" in args:
            module, _, name = args[args.index("--scheduler") + 1].partition(":")
            assert getattr(importlib.import_module(module), name)
    elif program == "python":
        assert args[0] == "manage.py" and (ROOT / "manage.py").exists()
        assert args[1] in get_commands(), f"no management command {args[1]!r}"
    else:
        pytest.fail(f"unknown program {program!r} in {argv}")


def test_the_compose_file_has_web_worker_beat_database_and_redis():
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(SERVICES)
    assert SERVICES["db"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert {"web", "worker", "beat", "migrate"} == APP_SERVICES


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_app_command_names_a_real_module_or_management_command(name):
    check_command(command_of(SERVICES[name]))
    healthcheck = SERVICES[name].get("healthcheck", {})
    if healthcheck.get("test"):
        kind, *test = healthcheck["test"]
        check_command(shlex.split(test[0]) if kind == "CMD-SHELL" else test)


def test_the_roles_of_the_commands():
    assert command_of(SERVICES["web"])[0] == "gunicorn"
    assert command_of(SERVICES["worker"])[:4] == ["celery", "-A", "biobank", "worker"]
    assert command_of(SERVICES["beat"])[:4] == ["celery", "-A", "biobank", "beat"]
    assert command_of(SERVICES["migrate"])[2] == "migrate"
    # Everything runs after the migrations; the app waits for healthy services.
    for name in {"web", "worker", "beat"}:
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert SERVICES[name]["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_the_app_gets_only_variables_that_settings_read(name):
    readable = settings_environment() | OTHER_READERS
    given = set(SERVICES[name]["environment"])
    assert given <= readable, f"not read by settings: {sorted(given - readable)}"
    required = {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"}
    assert required | {"MEDIA_ROOT"} <= given
    environment = SERVICES[name]["environment"]
    assert environment["DEBUG"] == "false"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:")


def test_settings_read_the_variables_the_readme_and_compose_name():
    names = settings_environment()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "MEDIA_ROOT"} <= names
    assert {"EXOTRACK_REANALYSIS_QUIET_SECONDS", "CELERY_VISIBILITY_TIMEOUT"} <= names
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running in production") :]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", section, flags=re.MULTILINE))
    assert len(documented) >= 10
    assert documented <= names, f"documented but not read: {sorted(documented - names)}"


def test_volumes_keep_the_database_and_the_raw_files():
    mounts = {
        name: dict(volume.split(":", 1) for volume in service.get("volumes", []))
        for name, service in SERVICES.items()
    }
    assert mounts["db"]["pgdata"] == "/var/lib/postgresql/data"
    for name in ("web", "worker"):
        assert mounts[name]["media"] == SERVICES[name]["environment"]["MEDIA_ROOT"]
    assert {"pgdata", "media"} <= set(COMPOSE["volumes"])


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        tuple(line.split(None, 1))
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_image_runs_gunicorn_as_a_non_root_user_with_a_health_check():
    instructions = dockerfile_instructions()
    users = [value.strip() for key, value in instructions if key == "USER"]
    assert users and users[-1] not in {"root", "0"}
    cmd = [value for key, value in instructions if key == "CMD"][-1]
    check_command(ast.literal_eval(cmd))
    health = [value for key, value in instructions if key == "HEALTHCHECK"][-1]
    script = ast.literal_eval(health.split("CMD", 1)[1].strip())
    assert script[0] == "python" and (ROOT / script[1]).exists()
    env_lines = " ".join(value for key, value in instructions if key == "ENV")
    names = set(re.findall(r"([A-Z][A-Z0-9_]+)=", env_lines))
    python_own = {n for n in names if n.startswith(("PYTHON", "PIP_"))}
    assert names - python_own <= settings_environment() | OTHER_READERS
    # Static files are collected at build time; whitenoise serves them.
    assert any("collectstatic" in value for key, value in instructions if key == "RUN")
    from django.conf import settings

    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


@pytest.mark.django_db(transaction=True)
def test_the_health_check_script_asks_the_login_page(live_server, monkeypatch):
    spec = importlib.util.spec_from_file_location("healthcheck", DOCKER / "healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost,exotrack.example.org")
    assert healthcheck.host_header() == "localhost"
    assert healthcheck.check(f"{live_server.url}/login/")
    assert not healthcheck.check(f"{live_server.url}/no-such-page/")


def requirement_names(path: Path) -> set[str]:
    """The distribution names pinned in a requirements file (lower case, no extras)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


TEST_TOOLS = {
    "pytest",
    "pytest-django",
    "pytest-xdist",
    "ruff",
    "playwright",
    "schemathesis",
    "hypothesis",
    "factory-boy",
}


def test_the_image_installs_the_runtime_requirements_and_no_test_tool():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev_file = (ROOT / "requirements-dev.txt").read_text()
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert "-r requirements.txt" in dev_file.splitlines()
    assert dev >= TEST_TOOLS, "the dev file pins the test tools"
    assert not runtime & TEST_TOOLS, f"test tools in the runtime: {sorted(runtime & TEST_TOOLS)}"
    assert {"django", "gunicorn", "drf-spectacular"} <= runtime
    installs = [
        value for key, value in dockerfile_instructions() if key == "RUN" and "pip install" in value
    ]
    assert installs, "the image installs its requirements"
    for command in installs:
        for part in command.split("&&"):
            argv = shlex.split(part)
            if argv[:2] != ["pip", "install"]:
                continue
            files = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-r"]
            assert files == ["requirements.txt"], f"the image installs {argv}"
            assert not [arg for arg in argv[2:] if not arg.startswith("-") and arg not in files]
