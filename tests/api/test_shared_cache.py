"""The throttle counters live in a cache every process shares: the database's cache
table when CACHE_URL is not set, Redis when it is; never the per-process LocMemCache
(with which each gunicorn worker counted its own 10 token guesses a minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from biobank import settings as project_settings

TOKEN_LIMIT = 10  # API_TOKEN_RATE's default, "10/minute"
THROTTLE_KEY = "throttle_token_127.0.0.1"  # DRF's ScopedRateThrottle key for the test client

# Another Python process, with its own cache client and database connection, asks the
# token endpoint once and reports what it found in the shared cache first.
OTHER_PROCESS = """
import json
import django
django.setup()
from django.core.cache import cache
from django.test import Client
seen = len(cache.get("throttle_token_127.0.0.1") or [])
status = Client().post("/api/v1/auth/token/", {"username": "tech", "password": "guess"}).status_code
print(json.dumps({"seen": seen, "status": status}))
"""


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def test_the_default_cache_is_the_database_table():
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert settings.CACHES["default"]["LOCATION"] == "exotrack_cache"


def test_a_cache_url_selects_redis_with_short_socket_timeouts():
    config = project_settings.cache_config("redis://redis:6379/2")
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert config["LOCATION"] == "redis://redis:6379/2"
    assert config["OPTIONS"] == {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
    with pytest.raises(RuntimeError, match="CACHE_URL"):
        project_settings.cache_config("memcached://x")


@pytest.mark.django_db
def test_the_token_throttle_counts_in_the_cache_table(technician):
    api = APIClient()
    for attempt in range(3):
        api.post(reverse("api:token"), {"username": "tech", "password": f"guess-{attempt}"})
    assert len(cache.get(THROTTLE_KEY)) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM exotrack_cache")
        keys = [row[0] for row in cursor.fetchall()]
    assert keys == [f":1:{THROTTLE_KEY}"]


@pytest.mark.django_db(transaction=True)
def test_another_process_sees_the_count_and_is_refused(technician):
    """Ten guesses here use up the minute's allowance; the eleventh, from another
    process (another gunicorn worker, as it were), is refused."""
    api = APIClient()
    answers = [
        # one guess a user name: the per-user lockout (django-axes) stays out of the way
        api.post(reverse("api:token"), {"username": f"user-{i}", "password": "x"}).status_code
        for i in range(TOKEN_LIMIT)
    ]
    assert answers == [400] * TOKEN_LIMIT
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "biobank.settings",
        "DATABASE_URL": database_url(),
        "CACHE_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"seen": TOKEN_LIMIT, "status": 429}
