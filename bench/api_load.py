"""API load and export benchmark against gunicorn on PostgreSQL.

    .venv/bin/python bench/api_load.py                     # 10,000 patients, 16 clients
    .venv/bin/python bench/api_load.py --requests 500 --export-sizes 2000

1. Databases: `exotrack_api_bench` (and `exotrack_api_bench_<n>` for each other export
   size) on the PostgreSQL server of --server-url, created when missing, migrated, with
   the synthetic demo cohort (`seed_demo --patients N --users`) of the size asked for.
2. gunicorn (sync workers, DEBUG off, persistent database connections) on 127.0.0.1.
3. Load: --concurrency client threads (http.client, a technician's token) on
   /api/v1/aliquots/ and /api/v1/wells/ (cursor-paginated, 50 rows a page): the first
   20 pages, a page anywhere (cursors the API handed out), and one patient's aliquots /
   one plate's wells; p50 / p90 / p99 latency and requests/s, after a warm-up. Beside
   them, their limit: the same first 20 pages from bench/api_peers.py (the same rows
   and checks in raw SQL and json.dumps, no framework), served by the same workers.
4. Export: for each size, a fresh one-worker gunicorn; /api/v1/export/cohort.csv streamed
   and counted; rows/s and the worker's peak resident memory (VmHWM from /proc) before
   and after. Then `manage.py export_cohort` as a child process with the default chunk
   size and with one chunk of every patient (what a non-streamed export would hold), its
   peak memory from wait4().

No external network: everything is on 127.0.0.1. Figures go to bench/README.md by hand.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
SERVER = "postgres://postgres@127.0.0.1:5432"
ENDPOINTS = {"aliquots": "/api/v1/aliquots/", "wells": "/api/v1/wells/"}
PAGE_SIZE = 50


def database_url(server: str, name: str) -> str:
    return f"{server.rstrip('/')}/{name}"


def psql(server: str, database: str, sql: str) -> list:
    import psycopg

    with psycopg.connect(database_url(server, database), autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else []


def ensure_database(server: str, name: str) -> None:
    exists = psql(server, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if not exists:
        psql(server, "postgres", f'CREATE DATABASE "{name}"')
        print(f"created database {name}")


def manage(url: str, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def prepare(server: str, name: str, patients: int) -> str:
    """The database `name`, migrated, with exactly `patients` demo patients and users."""
    ensure_database(server, name)
    url = database_url(server, name)
    manage(url, "migrate", "--no-input", "-v", "0")
    existing = psql(
        server, name, "SELECT count(*) FROM biobank_patient WHERE study_id LIKE 'DEMO-%'"
    )[0][0]
    if existing != patients:
        started = time.perf_counter()
        reset = ["--reset"] if existing else []
        manage(url, "seed_demo", "--patients", str(patients), "--users", *reset, capture=True)
        print(f"{name}: seeded {patients} patients in {time.perf_counter() - started:.0f} s")
    else:
        manage(url, "seed_demo", "--patients", str(patients), "--users", capture=True)
    # Planner statistics and the visibility map, as autovacuum keeps them in production
    # (a freshly bulk-loaded table has neither).
    psql(server, name, "VACUUM ANALYZE")
    return url


def token_for(url: str, username: str) -> str:
    out = manage(url, "drf_create_token", username, capture=True)
    return out.strip().split()[2]  # "Generated token <key> for user <name>"


# ---------------------------------------------------------------- gunicorn


@contextmanager
def gunicorn(url: str, *, port: int, workers: int, app: str = "biobank.wsgi:application"):
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "ERROR",
    }
    process = subprocess.Popen(
        [
            GUNICORN,
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--backlog",
            "256",
            "--timeout",
            "600",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = get(port, "/api/v1/assays/")  # 401: up (no static files needed)
                if status == 401:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def memory_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


# ---------------------------------------------------------------- HTTP


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(port: int, path: str, token: str) -> dict:
    import json

    status, body = get(port, path, {"Authorization": f"Token {token}"})
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


def local(url: str) -> str:
    """The path and query of a link the API returned."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def with_page_size(url: str, size: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page_size"]
    return f"{parts.path}?{urlencode([*query, ('page_size', size)])}"


def workloads(port: int, token: str, server: str, database: str) -> dict[str, dict[str, list]]:
    """The request paths of each workload, per endpoint, from the API's own links:
    - first pages: page 1 and the next 19, as a client syncing from the start reads them;
    - any page: a cursor anywhere in the collection (collected by walking it 1,000 rows
      at a time), read 50 rows from there;
    - filtered: one patient's aliquots / one plate's wells, at random."""
    chooser = random.Random(20261126)
    paths: dict[str, dict[str, list]] = {}
    for name, endpoint in ENDPOINTS.items():
        first, url = [], f"{endpoint}?page_size={PAGE_SIZE}"
        while url and len(first) < 20:
            first.append(url)
            url = get_json(port, url, token)["next"]
            url = local(url) if url else None
        anywhere, url = [f"{endpoint}?page_size={PAGE_SIZE}"], f"{endpoint}?page_size=1000"
        while url:
            following = get_json(port, url, token)["next"]
            url = local(following) if following else None
            if url:
                anywhere.append(with_page_size(url, PAGE_SIZE))
        paths[name] = {"first 20 pages": first, "any page": anywhere}
    patients = [row[0] for row in psql(server, database, "SELECT study_id FROM biobank_patient")]
    plates = [row[0] for row in psql(server, database, "SELECT id FROM biobank_qpcrplate")]
    paths["aliquots"]["one patient"] = [
        f"{ENDPOINTS['aliquots']}?patient={chooser.choice(patients)}" for _ in range(1000)
    ]
    paths["wells"]["one plate"] = [
        f"{ENDPOINTS['wells']}?plate={chooser.choice(plates)}&page_size=100" for _ in range(1000)
    ]
    # The limit: the first 20 pages again, from the framework-free peer (keyset starts).
    for name, order in (("aliquots", "barcode, id"), ("wells", 'plate_id, row, "column", id')):
        keys = psql(server, database, f"SELECT {order} FROM biobank_{name[:-1]} ORDER BY {order} "
                    f"LIMIT {20 * PAGE_SIZE}")  # fmt: skip
        starts = [None, *keys[PAGE_SIZE - 1 :: PAGE_SIZE][:19]]
        paths[name]["raw peer, 20 pages"] = [
            f"/peer/raw/{name}/"
            + ("" if start is None else "?after=" + quote("|".join(map(str, start))))
            for start in starts
        ]
    return paths


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def load(port: int, paths: list[str], token: str, *, requests: int, concurrency: int):
    """`requests` GETs of paths drawn at random by `concurrency` threads (one connection
    a request, as gunicorn's sync workers close it); latencies in ms."""
    headers = {"Authorization": f"Token {token}"}
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    remaining = iter(range(requests))
    chooser = random.Random(20261126)
    plan = [chooser.choice(paths) for _ in range(requests)]

    def client():
        while True:
            with lock:
                index = next(remaining, None)
            if index is None:
                return
            started = time.perf_counter()
            status, _body = get(port, plan[index], headers)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    failures.append(status)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "failures": len(failures),
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "mean": statistics.fmean(latencies),
        "rps": len(latencies) / wall,
    }


def stream_export(port: int, token: str, path: str = "/api/v1/export/cohort.csv") -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = connection.getresponse()
    assert response.status == 200, response.status
    first_byte = None
    lines = comments = size = 0
    while block := response.read(64 * 1024):
        if first_byte is None:  # the comment lines head the first block
            first_byte = time.perf_counter() - started
            for line in block.split(b"\n"):
                if not line.startswith(b"#"):
                    break
                comments += 1
        size += len(block)
        lines += block.count(b"\n")
    total = time.perf_counter() - started
    connection.close()
    rows = lines - comments - 1  # the header row
    return {"rows": rows, "bytes": size, "first_byte_s": first_byte, "total_s": total}


def command_export_peak(url: str, chunk_size: int) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time of `manage.py export_cohort` in a child process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, "manage.py", "export_cohort", "-o", os.devnull, "--chunk-size", str(chunk_size)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stderr=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError("export_cohort failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def breakdown_child() -> None:
    """Run in a child process on DATABASE_URL: where an export's time goes."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    django.setup()
    from biobank.api.exports import prepare_cohort_export
    from biobank.selectors.cohort import cohort_table_chunks

    started = time.perf_counter()
    chunks = list(cohort_table_chunks(1000))
    computed = time.perf_counter() - started
    rows = sum(len(chunk) for chunk in chunks)
    started = time.perf_counter()
    export = prepare_cohort_export("csv", chunks=iter(chunks))
    sent = sum(len(block) for block in export.stream())
    written = time.perf_counter() - started
    print(
        f"{rows:>8} patients: cohort_table_chunks {computed:.2f} s ({rows / computed:.0f} rows/s); "
        f"spool + fingerprint + CSV {written:.2f} s ({rows / written:.0f} rows/s, {sent / 1e6:.1f} MB)"
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=SERVER, help=f"PostgreSQL server URL ({SERVER})")
    parser.add_argument("--database", default="exotrack_api_bench")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--export-sizes", default="2000,10000", help="cohort sizes whose export is measured"
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    options = parser.parse_args()

    print(
        "load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        + f" on {os.cpu_count()} cores"
    )
    url = prepare(options.server, options.database, options.patients)
    token = token_for(url, "technician")

    if not options.skip_load:
        with gunicorn(
            url, port=options.port, workers=options.workers, app="bench.api_peers:application"
        ):
            paths = workloads(options.port, token, options.server, options.database)
            print(
                f"\nLoad: {options.concurrency} clients, gunicorn {options.workers} sync workers, "
                f"{options.patients} patients, {PAGE_SIZE} rows a page, PostgreSQL "
                f"{options.database}; load average now "
                + " ".join(f"{value:.2f}" for value in os.getloadavg())
            )
            print(
                f"{'endpoint':10} {'workload':18} {'requests':>8} {'p50 ms':>7} "
                f"{'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'req/s':>7}"
            )
            for name, by_workload in paths.items():
                for label, workload in by_workload.items():
                    load(options.port, workload, token, requests=200,
                         concurrency=options.concurrency)  # warm-up  # fmt: skip
                    figures = load(
                        options.port,
                        workload,
                        token,
                        requests=options.requests,
                        concurrency=options.concurrency,
                    )
                    print(
                        f"{name:10} {label:18} {figures['requests']:>8} "
                        f"{figures['p50']:>7.1f} {figures['p90']:>7.1f} {figures['p99']:>7.1f} "
                        f"{figures['max']:>7.1f} {figures['rps']:>7.0f}"
                        + (f"  ({figures['failures']} non-200)" if figures["failures"] else "")
                    )

    if options.skip_export:
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return
    print("\nExport (/api/v1/export/cohort.csv, one fresh gunicorn worker each)")
    print(
        f"{'patients':>8} {'rows':>7} {'MB':>6} {'first byte s':>12} {'total s':>8} "
        f"{'rows/s':>7} {'RSS before':>10} {'peak after':>10}"
    )
    sizes = [int(size) for size in options.export_sizes.split(",") if size]
    urls = {}
    for size in sizes:
        name = options.database if size == options.patients else f"{options.database}_{size}"
        urls[size] = url if size == options.patients else prepare(options.server, name, size)
        size_token = token if size == options.patients else token_for(urls[size], "technician")
        with gunicorn(urls[size], port=options.port, workers=1) as master:
            [worker] = worker_pids(master.pid)
            get(options.port, "/api/v1/assays/", {"Authorization": f"Token {size_token}"})
            before = memory_kib(worker)
            figures = stream_export(options.port, size_token)
            after = memory_kib(worker)
        print(
            f"{size:>8} {figures['rows']:>7} {figures['bytes'] / 1e6:>6.1f} "
            f"{figures['first_byte_s']:>12.2f} {figures['total_s']:>8.2f} "
            f"{figures['rows'] / figures['total_s']:>7.0f} "
            f"{before['VmHWM'] / 1024:>7.0f} MiB {after['VmHWM'] / 1024:>7.0f} MiB"
        )

    print("\nmanage.py export_cohort peak RSS (child process, whole run)")
    for size in sizes:
        streamed, streamed_s = command_export_peak(urls[size], 1000)
        at_once, at_once_s = command_export_peak(urls[size], size)
        print(
            f"{size:>8} patients: chunks of 1000 {streamed:.0f} MiB ({streamed_s:.1f} s); "
            f"one chunk of all {at_once:.0f} MiB ({at_once_s:.1f} s)"
        )
    print("\nWhere the export's time goes (in one process)")
    for size in sizes:
        subprocess.run(
            [PYTHON, __file__, "--breakdown-child"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": urls[size]},
            check=True,
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--breakdown-child"]:
        breakdown_child()
    else:
        sys.exit(main())
