"""Black-box harness for the end-to-end tests (Python 3 standard library only).

Each test file gets a fresh database in the test PostgreSQL cluster, runs `counsel` processes on
ephemeral ports against it, and talks to them over real HTTP. Everything it starts is stopped and
dropped at exit, and a watchdog makes a hung test fail fast instead of waiting for ctest's timeout.

The same files run on either log engine. With COUNSEL_E2E_LOG=kafka the harness starts one
`counsel kafka-mock` process per test file (librdkafka's mock cluster: 3 brokers speaking the
Kafka protocol on loopback) and every counsel process it starts joins it with `--log kafka`;
PostgreSQL still holds the read models.

Environment (set by tests/CMakeLists.txt):
  COUNSEL_BINARY          the `counsel` executable
  COUNSEL_TEST_PG_HOST    socket directory of the test cluster
  COUNSEL_TEST_PG_PORT    its port
  COUNSEL_E2E_LOG         log engine: postgres (default) or kafka
"""

import atexit
import base64
import ctypes
import hashlib
import hmac
import datetime as dt
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from zoneinfo import ZoneInfo

BINARY = os.environ.get("COUNSEL_BINARY", "")
PG_HOST = os.environ.get("COUNSEL_TEST_PG_HOST", "")
PG_PORT = os.environ.get("COUNSEL_TEST_PG_PORT", "")
LOG_ENGINE = os.environ.get("COUNSEL_E2E_LOG", "postgres")
if LOG_ENGINE not in ("postgres", "kafka"):
    raise SystemExit(f"harness: COUNSEL_E2E_LOG must be postgres or kafka, not {LOG_ENGINE!r}")
KAFKA_TOPICS = {"commands": "counsel.commands.v1", "events": "counsel.events.v1",
                "results": "counsel.results.v1"}
# librdkafka settings for counsel processes against the mock cluster: its group coordinator holds
# a rebalance for session.timeout.ms - 1 s (librdkafka's default 45 s would make a takeover take
# a minute), and it answers an empty fetch only after fetch.wait.max.ms (500 ms by default,
# which would be added to every command's round trip).
KAFKA_MOCK_CLIENT_SETTINGS = ("session.timeout.ms=6000,heartbeat.interval.ms=500,"
                              "fetch.wait.max.ms=10")

PASSWORD = "correct-horse-battery"
JOHANNESBURG = ZoneInfo("Africa/Johannesburg")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LISTENING = re.compile(r"listening on http://([^\s:/]+|\[[^\]]+\]):(\d+)")
KAFKA_MOCK_STARTED = re.compile(r"kafka mock cluster: (\S+)")
# A processor logs this when it owns a partition and has rebuilt its state: it takes commands.
TOOK_PARTITION = re.compile(r"took partition \d+")

_processes = []  # every CounselProcess started, stopped at exit
_databases = []  # every TestDatabase created, dropped at exit
_workdir = tempfile.mkdtemp(prefix="counsel-e2e-")


# --------------------------------------------------------------------------------------------
# PostgreSQL


def psql(sql, dbname="postgres", timeout=30):
    """Runs one SQL statement in the test cluster as the superuser; returns stdout (tuples only)."""
    result = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST, "-p", PG_PORT,
         "-U", "counsel", "-d", dbname, "-c", sql],
        capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({sql!r}): {result.stderr.strip()}")
    return result.stdout


class TestDatabase:
    """A fresh database for one test file, dropped at exit."""

    def __init__(self, label):
        safe_label = re.sub(r"[^a-z0-9_]", "_", label.lower())
        self.name = f"e2e_{safe_label}_{uuid.uuid4().hex[:10]}"
        # CREATE DATABASE copies template1 and fails while another session is connected to it;
        # parallel tests can collide there for a moment, so retry briefly.
        for attempt in range(10):
            try:
                psql(f'CREATE DATABASE "{self.name}"')
                break
            except RuntimeError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        _databases.append(self)
        self.conninfo = f"host={PG_HOST} port={PG_PORT} user=counsel dbname={self.name}"

    def query(self, sql):
        return psql(sql, dbname=self.name)

    def drop(self):
        psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------
# counsel processes


def _die_with_parent():
    """Runs in the child before exec: if the test process dies (even by SIGKILL from ctest's
    timeout), the kernel kills the child too, so no counsel outlives its test."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def jwt_secret_file():
    """One secret shared by every process of this test file (the binary would create one per
    process otherwise, and an api must verify the tokens it issued)."""
    path = os.path.join(_workdir, "jwt-secret")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(48)).decode())
    return path


def log_flags():
    """The flags that put a counsel process on this run's log engine."""
    if LOG_ENGINE == "kafka":
        return ["--log", "kafka", "--kafka-brokers", kafka_mock().bootstrap,
                "--kafka-config", KAFKA_MOCK_CLIENT_SETTINGS]
    return ["--log", "postgres"]


def common_flags(db):
    return ["--db", db.conninfo, *log_flags(), "--http-address", "127.0.0.1", "--http-port", "0",
            "--password-hash-cost", "min", "--jwt-secret-file", jwt_secret_file()]


class CounselProcess:
    """One `counsel ROLE` child process. Its output is captured (and shown when a test fails).

    It is ready once it listens (serve, api) and, for roles that process commands, once it owns
    a partition: on Kafka joining the consumer group takes seconds, and a command sent earlier
    would only wait. `ready_line` overrides what to wait for; `db=None` starts it without the
    common flags (the mock cluster). Rate limits are off unless `env` sets
    COUNSEL_RATE_LIMITS=on."""

    def __init__(self, role, db, extra_args=(), env=None, name=None, require_listening=None,
                 timeout=30, ready_line=None):
        if not BINARY or not os.access(BINARY, os.X_OK):
            raise RuntimeError(f"COUNSEL_BINARY is not an executable: {BINARY!r}")
        self.role = role
        self.db = db
        self.name = name or role
        self.lines = []
        self.port = None
        self._listening = threading.Event()
        self._line_seen = threading.Condition()
        child_env = dict(os.environ)
        # The tests register and log in many users from 127.0.0.1, far beyond the default
        # auth limit (10/min per IP): limits are off unless a test's `env` turns them on
        # (test_rate_limits.py does).
        child_env["COUNSEL_RATE_LIMITS"] = "off"
        child_env.update(env or {})
        flags = common_flags(db) if db is not None else []
        self.argv = [BINARY, role, *flags, *extra_args]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=child_env,
                                     preexec_fn=_die_with_parent)
        _processes.append(self)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        if require_listening is None:
            require_listening = role in ("serve", "api")
        if ready_line is None and role in ("serve", "processor"):
            ready_line = TOOK_PARTITION
        self._wait_ready(require_listening, timeout)
        if ready_line is not None:
            self.ready_match = self.wait_for_line(ready_line, timeout)

    def _read_output(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._line_seen:
                self.lines.append(line)
                self._line_seen.notify_all()
            match = LISTENING.search(line)
            if match and not self._listening.is_set():
                self.port = int(match.group(2))
                self._listening.set()
        with self._line_seen:
            self._line_seen.notify_all()

    def wait_for_line(self, pattern, timeout):
        """Waits until the process printed a line matching `pattern` (a compiled regex); returns
        the match. Raises if it exits or the time is up first."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._line_seen:
            while True:
                for line in self.lines[seen:]:
                    match = pattern.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before "
                                       f"printing /{pattern.pattern}/:\n" + self.output_tail())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.name} printed no /{pattern.pattern}/ within "
                                       f"{timeout}s:\n" + self.output_tail())
                self._line_seen.wait(timeout=min(left, 0.5))

    def _wait_ready(self, require_listening, timeout):
        # Roles without an HTTP listener never print the line: give them a short grace period
        # to start and only insist that they are still alive.
        wait = timeout if require_listening else min(timeout, 1.5)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._listening.is_set():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                   + self.output_tail())
            time.sleep(0.05)
        if require_listening and not self._listening.is_set():
            raise RuntimeError(f"{self.name} printed no 'listening on' line within {timeout}s:\n"
                               + self.output_tail())
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                               + self.output_tail())
        if self.port is not None:
            wait_until(lambda: _health_ok(self.base_url), timeout=timeout,
                       what=f"GET /health on {self.name}")

    @property
    def base_url(self):
        if self.port is None:
            raise RuntimeError(f"{self.name} has no HTTP listener")
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL: the crash a machine failure would cause."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout=10):
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def output_tail(self, count=80):
        return "\n".join(f"  [{self.name}] {line}" for line in self.lines[-count:])


class KafkaMock:
    """`counsel kafka-mock`: librdkafka's mock cluster (3 brokers, the counsel topics created)
    in a process of its own, for one test file. Stopped at exit with the other processes."""

    def __init__(self, partitions=16):
        path = os.path.join(_workdir, "kafka-bootstrap")
        self.process = CounselProcess(
            "kafka-mock", None, name="kafka-mock", require_listening=False,
            extra_args=["--partitions", str(partitions), "--kafka-bootstrap-file", path],
            ready_line=KAFKA_MOCK_STARTED)
        self.bootstrap = self.process.ready_match.group(1)
        with open(path, encoding="utf-8") as f:
            written = f.read().strip()
        if written != self.bootstrap:
            raise RuntimeError(f"kafka-mock printed {self.bootstrap} but wrote {written!r} to "
                               f"its bootstrap file")


_kafka_mock = None


def kafka_mock():
    """This test file's mock cluster, started on first use."""
    global _kafka_mock
    if _kafka_mock is None:
        _kafka_mock = KafkaMock()
    return _kafka_mock


def kcat_records(topic="events", timeout=60):
    """Reads a whole topic of the mock cluster with kcat, as any Kafka consumer (an analytics
    job) would; returns [(key, value)] in partition order."""
    result = subprocess.run(
        ["kcat", "-b", kafka_mock().bootstrap, "-C", "-t", KAFKA_TOPICS[topic], "-e", "-q",
         "-f", "%k\t%s\n"],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"kcat failed ({result.returncode}): {result.stderr.strip()}")
    records = []
    for line in result.stdout.splitlines():
        if line:
            key, _, value = line.partition("\t")
            records.append((key, value))
    return records


def logged_events(db):
    """Every event envelope in the events log (the audit stream), read the way an outside reader
    of this run's engine would: kcat on Kafka, SQL on the postgres engine's log tables."""
    if LOG_ENGINE == "kafka":
        return [json.loads(value) for _, value in kcat_records("events")]
    rows = db.query("SELECT coalesce(json_agg(value::json ORDER BY partition, \"offset\"), '[]')"
                    " FROM log.records WHERE topic = 2")
    return json.loads(rows)


def run_counsel(args, timeout=60, env=None):
    """Runs a short-lived `counsel ...` command; returns the CompletedProcess (text output)."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout,
                          env=child_env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def _health_ok(base_url):
    try:
        return http_request("GET", base_url + "/health", timeout=2).status == 200
    except OSError:
        return False


def wait_until(predicate, timeout=10, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _cleanup():
    # Newest first: the clients stop before the mock cluster they talk to.
    for process in reversed(_processes):
        try:
            process.stop(timeout=5)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
    for database in _databases:
        try:
            database.drop()
        except Exception as error:  # noqa: BLE001
            print(f"harness: could not drop {database.name}: {error}", file=sys.stderr)
    # Tests write folders there too (audit exports): the whole tree goes.
    shutil.rmtree(_workdir, ignore_errors=True)


atexit.register(_cleanup)


def dump_process_output():
    for process in _processes:
        status = "running" if process.alive() else f"exit {process.proc.returncode}"
        print(f"\n--- output of {process.name} ({status}): {' '.join(process.argv)}",
              file=sys.stderr)
        print(process.output_tail(), file=sys.stderr)


# --------------------------------------------------------------------------------------------
# HTTP

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", errors="replace")
        self.body = None
        if raw and "json" in self.content_type:
            try:
                self.body = json.loads(self.text)
            except ValueError:
                self.body = None

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").lower()

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return f"<{self.status} {self.content_type} {self.text[:500]}>"


def http_request(method, url, body=None, raw=None, headers=None, timeout=10):
    """One HTTP request; 4xx/5xx are returned, not raised. Network errors raise OSError."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    for name, value in (headers or {}).items():
        if value is not None:
            request.add_header(name, value)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read())
    except urllib.error.URLError as error:
        reason = error.reason
        raise reason if isinstance(reason, OSError) else OSError(str(reason)) from error


def query_string(**params):
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class Api:
    """The counsel HTTP API at one base URL."""

    def __init__(self, base_url):
        self.base_url = base_url

    def call(self, method, path, body=None, raw=None, token=None, consistency=None,
             headers=None, timeout=10):
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if consistency:
            all_headers["Consistency-Token"] = consistency
        return http_request(method, self.base_url + path, body=body, raw=raw,
                            headers=all_headers, timeout=timeout)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, body=body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("PUT", path, body=body, **kwargs)

    def register(self, email=None, password=PASSWORD, role="client", display_name=None,
                 headers=None):
        return self.post("/api/v1/auth/register", {
            "email": email or unique_email(role),
            "password": password,
            "role": role,
            "display_name": display_name or f"Test {role.title()}",
        }, headers=headers)

    def register_until_final(self, role="client", deadline_seconds=30):
        """Registers with an Idempotency-Key, retrying while the outcome is not final (5xx,
        network errors) - what a client does while processors fail over. Returns the email and
        the final response."""
        email = unique_email(role)
        key = str(uuid.uuid4())
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                response = self.register(email=email, role=role,
                                         headers={"Idempotency-Key": key})
                if response.status < 500:
                    return email, response
            except (OSError, TimeoutError):
                response = None
            if time.monotonic() > deadline:
                raise AssertionError(f"no final registration outcome within {deadline_seconds}s "
                                     f"(last: {response!r})")
            time.sleep(0.5)

    def login(self, email, password=PASSWORD, consistency=None, retry_for=None):
        """Logs in; retries a 401 for a moment after a registration in case the login reads a
        read model that has not caught up yet (the registration's token is passed along too).
        On Kafka a projector may still be joining its group: wait longer there."""
        if retry_for is None:
            retry_for = 15.0 if LOG_ENGINE == "kafka" else 5.0
        deadline = time.monotonic() + retry_for
        while True:
            response = self.post("/api/v1/auth/login", {"email": email, "password": password},
                                 consistency=consistency)
            if response.status != 401 or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    def admin(self):
        """This server's admin (created once per base URL through `counsel users create-admin`,
        with two-factor set up as admins must): a User whose `totp_secret` and
        `recovery_codes` are kept for tests that need them."""
        if self.base_url not in _admins:
            _admins[self.base_url] = create_admin(self)
        return _admins[self.base_url]

    def verify(self, user):
        """Has this server's admin verify `user` (a counsellor becomes findable and bookable)."""
        response = self.admin().post(f"/api/v1/admin/users/{user.id}/verify")
        if response.status != 200:
            raise AssertionError(f"verify {user.role} {user.id} failed: {response!r}")
        user.consistency = response.header("Consistency-Token") or user.consistency
        return response

    def new_user(self, role="client", display_name=None):
        """Registers and logs in a user; returns a User holding its bearer token."""
        email = unique_email(role)
        registered = self.register(email=email, role=role, display_name=display_name)
        if registered.status != 201:
            raise AssertionError(f"register {role} failed: {registered!r}")
        logged_in = self.login(email, consistency=registered.header("Consistency-Token"))
        if logged_in.status != 200:
            raise AssertionError(f"login {role} failed: {logged_in!r}")
        user = User(self, registered.body["id"], email, role, logged_in.body["access_token"])
        user.consistency = registered.header("Consistency-Token")
        return user


class User:
    """A logged-in user: every call carries its bearer token and, so it reads its own writes, the
    latest Consistency-Token it was given (unless the caller passes another one)."""

    def __init__(self, api, user_id, email, role, token):
        self.api = api
        self.id = user_id
        self.email = email
        self.role = role
        self.token = token
        self.consistency = None

    def call(self, method, path, body=None, consistency=None, **kwargs):
        response = self.api.call(method, path, body=body, token=self.token,
                                 consistency=consistency or self.consistency, **kwargs)
        token = response.header("Consistency-Token")
        if token:
            self.consistency = token
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, body=body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("PUT", path, body=body, **kwargs)

    # --- counsellor set-up

    def put_profile(self, specialties=("anxiety", "depression"), languages=("en", "zu"),
                    level="senior", bio="Helps with anxiety and low mood."):
        return self.put(f"/api/v1/counselors/{self.id}/profile", {
            "specialties": list(specialties), "languages": list(languages),
            "level": level, "bio": bio})

    def put_availability(self, **overrides):
        return self.put(f"/api/v1/counselors/{self.id}/availability", availability(**overrides))


def unique_email(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.org"


def availability(time_zone="Africa/Johannesburg", days=("mon", "tue", "wed", "thu", "fri"),
                 start="09:00", end="17:00", buffer_minutes=15, min_notice_minutes=60,
                 overrides=()):
    return {
        "time_zone": time_zone,
        "weekly": [{"day": day, "start": start, "end": end} for day in days],
        "buffer_minutes": buffer_minutes,
        "min_notice_minutes": min_notice_minutes,
        "overrides": list(overrides),
    }


def totp_code(secret, step_offset=0, at=None):
    """RFC 6238 (SHA-1, 30 s, 6 digits), computed here independently of the server."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    step = int(at if at is not None else time.time()) // 30 + step_offset
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"


_admins = {}  # base URL -> its admin User


def _process_for(base_url):
    for process in _processes:
        if process.port is not None and process.base_url == base_url:
            return process
    raise RuntimeError(f"no counsel process of this test serves {base_url}")


def create_admin(api, email=None, password=PASSWORD, set_up_two_factor=True):
    """`counsel users create-admin` against the database (and log) of the process serving
    `api`, then sign-in and, unless told otherwise, two-factor set-up: the admin's token reaches
    nothing else before that."""
    process = _process_for(api.base_url)
    email = email or unique_email("admin")
    result = subprocess.run([BINARY, "users", "create-admin", "--email", email,
                             *common_flags(process.db)],
                            input=password + "\n", capture_output=True, text=True, timeout=60,
                            preexec_fn=_die_with_parent)
    if result.returncode != 0:
        raise AssertionError(f"create-admin failed ({result.returncode}): {result.stderr}")
    logged_in = api.login(email, password)
    if logged_in.status != 200:
        raise AssertionError(f"admin login failed: {logged_in!r}")
    admin = User(api, logged_in.body["user"]["id"], email, "admin",
                 logged_in.body["access_token"])
    admin.password = password
    admin.totp_secret = None
    admin.recovery_codes = []
    if set_up_two_factor:
        setup = admin.post("/api/v1/auth/2fa/setup")
        if setup.status != 200:
            raise AssertionError(f"2fa setup failed: {setup!r}")
        admin.totp_secret = setup.body["secret"]
        admin.last_totp_step = int(time.time()) // 30  # each step is accepted once
        confirmed = admin.post("/api/v1/auth/2fa/confirm",
                               {"totp": totp_code(admin.totp_secret,
                                                  at=admin.last_totp_step * 30)})
        if confirmed.status != 200:
            raise AssertionError(f"2fa confirm failed: {confirmed!r}")
        admin.recovery_codes = confirmed.body["recovery_codes"]
    return admin


def ready_counselor(api, verified=True, **availability_args):
    """A counsellor with the standard profile and availability (mon-fri 09:00-17:00 in
    Johannesburg unless told otherwise), verified by this server's admin unless told
    otherwise."""
    counselor = api.new_user("counselor")
    profile = counselor.put_profile()
    if profile.status != 200:
        raise AssertionError(f"PUT profile failed: {profile!r}")
    response = counselor.put_availability(**availability_args)
    if response.status != 200:
        raise AssertionError(f"PUT availability failed: {response!r}")
    if verified:
        api.verify(counselor)
    return counselor


def book(user, counselor_id, start, duration_minutes=60, topic="", mode="video", headers=None,
         timeout=10):
    return user.post("/api/v1/sessions", {
        "counselor_id": counselor_id, "start": iso(start), "duration_minutes": duration_minutes,
        "topic": topic, "mode": mode}, headers=headers, timeout=timeout)


def book_until_final(user, counselor_id, start, idempotency_key, deadline_seconds=30, **kwargs):
    """Books with an Idempotency-Key, retrying while the outcome is not final (202, 5xx, network
    errors, timeouts) - what a client does while processors fail over. Returns the final
    response and how many attempts it took."""
    deadline = time.monotonic() + deadline_seconds
    attempts = 0
    while True:
        attempts += 1
        try:
            response = book(user, counselor_id, start,
                            headers={"Idempotency-Key": idempotency_key}, **kwargs)
            if response.status != 202 and response.status < 500:
                return response, attempts
        except (OSError, TimeoutError):
            response = None
        if time.monotonic() > deadline:
            raise AssertionError(f"no final booking outcome within {deadline_seconds}s "
                                 f"({attempts} attempts, last: {response!r})")
        time.sleep(0.5)


def wait_visible(user, session_id, consistency, timeout=5):
    """Waits until `user` reads the session (with the booking's Consistency-Token): an action by
    the other participant is then not racing the read model that routes it."""
    return wait_until(
        lambda: user.get(f"/api/v1/sessions/{session_id}", consistency=consistency).status == 200,
        timeout=timeout, what=f"session {session_id} visible to {user.role} {user.id}")


def results_of(response):
    """The items of a list response (paged `results`, or a bare list)."""
    body = response.body
    if isinstance(body, dict) and "results" in body:
        return body["results"]
    if isinstance(body, list):
        return body
    raise AssertionError(f"not a list response: {response!r}")


def list_all_sessions(user, **params):
    """Every session of the caller, following pages."""
    sessions = []
    page = 1
    while True:
        response = user.get("/api/v1/sessions?" + query_string(page=page, per_page=100, **params))
        if response.status != 200:
            raise AssertionError(f"GET /api/v1/sessions failed: {response!r}")
        sessions.extend(results_of(response))
        if not (isinstance(response.body, dict) and response.body.get("has_next")):
            return sessions
        page += 1


def send_oversized(base_url, path, size, token=None, timeout=10):
    """POSTs a body of `size` bytes over a raw socket, reading whatever the server answers as
    soon as it answers: a server that refuses early may close before the body is sent, which
    urllib would report as a broken pipe instead of the 413. Returns (status, headers, body)."""
    parsed = urllib.parse.urlsplit(base_url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
    try:
        head = (f"POST {path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {size}\r\n")
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        sock.sendall((head + "\r\n").encode())
        chunk = b"x" * 65536
        sent = 0
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            writers = [sock] if sent < size else []
            readable, writable, _ = select.select([sock], writers, [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                received += data
                if b"\r\n\r\n" in received and _response_complete(received):
                    break
            elif writable:
                try:
                    sent += sock.send(chunk[: size - sent])
                except (BrokenPipeError, ConnectionResetError):
                    sent = size  # the server stopped reading; go on reading its answer
        return _parse_raw_response(received)
    finally:
        sock.close()


def _response_complete(received):
    head, _, rest = received.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return match is None or len(rest) >= int(match.group(1))


def _parse_raw_response(received):
    if not received:
        raise AssertionError("the server closed the connection without an HTTP response")
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


# --------------------------------------------------------------------------------------------
# time


def iso(moment):
    """RFC 3339 UTC with a Z, as the API expects."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


def local_datetime(date, hour, minute=0, zone=JOHANNESBURG):
    return dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=zone)


def next_week_monday(zone=JOHANNESBURG):
    today = now_utc().astimezone(zone).date()
    return today + dt.timedelta(days=7 - today.weekday())


def weekday_at(hour, at_least_ahead=dt.timedelta(days=3), zone=JOHANNESBURG, skip_dates=(),
               nth=0):
    """The `nth` Monday-to-Friday local date at `hour` that is at least `at_least_ahead` from now
    (and not one of `skip_dates`), as an aware datetime."""
    earliest = now_utc() + at_least_ahead
    date = earliest.astimezone(zone).date()
    found = 0
    while True:
        moment = local_datetime(date, hour, zone=zone)
        if date.weekday() < 5 and moment >= earliest and date not in skip_dates:
            if found == nth:
                return moment
            found += 1
        date += dt.timedelta(days=1)


# --------------------------------------------------------------------------------------------
# assertions


def assert_problem(test, response, status, code=None):
    """An RFC 9457 problem with the contract's fields."""
    test.assertEqual(response.status, status, f"expected {status}, got {response!r}")
    test.assertTrue(response.content_type.startswith("application/problem+json"),
                    f"problem responses are application/problem+json: {response!r}")
    body = response.body
    test.assertIsInstance(body, dict, response)
    for field in ("code", "status", "title", "timestamp"):
        test.assertIn(field, body, f"problem lacks {field}: {response!r}")
    test.assertIsInstance(body["code"], str)
    test.assertTrue(body["code"], "problem code is empty")
    test.assertEqual(body["status"], status)
    test.assertIsInstance(body["title"], str)
    parse_time(body["timestamp"])
    if code is not None:
        test.assertEqual(body["code"], code, response)
    return body


# --------------------------------------------------------------------------------------------
# running a test file


def main(time_limit=90):
    """unittest.main with a watchdog: after `time_limit` seconds the file fails (with every
    process's output) instead of hanging. Exits non-zero on any failure. On Kafka every group
    join or takeover waits for a rebalance of the mock (~3-5 s), so a file gets a minute more."""
    if LOG_ENGINE == "kafka":
        time_limit += 60

    def watchdog():
        print(f"\nharness: {os.path.basename(sys.argv[0])} exceeded {time_limit}s, aborting",
              file=sys.stderr)
        dump_process_output()
        sys.stderr.flush()
        _cleanup()
        os._exit(3)

    timer = threading.Timer(time_limit, watchdog)
    timer.daemon = True
    timer.start()
    if not BINARY or not PG_HOST or not PG_PORT:
        print("harness: COUNSEL_BINARY, COUNSEL_TEST_PG_HOST and COUNSEL_TEST_PG_PORT must be set",
              file=sys.stderr)
        sys.exit(2)
    program = unittest.main(exit=False, verbosity=2)
    timer.cancel()
    result = program.result
    if not result.wasSuccessful() or result.testsRun == 0:
        dump_process_output()
        sys.exit(1)
    sys.exit(0)


# --------------------------------------------------------------------------------------------
# mail (the email channel writes every message as an .eml file)

import email.parser as _email_parser  # noqa: E402 - kept with the helpers that use them
import email.policy as _email_policy  # noqa: E402
import shutil  # noqa: E402

MAIL_DIR = os.path.join(_workdir, "mail")
# Every counsel process of this test file gets it (CounselProcess passes os.environ on); a
# test's `env` may point one elsewhere, or turn email off with COUNSEL_MAIL_DIR="".
os.environ["COUNSEL_MAIL_DIR"] = MAIL_DIR


def mails_to(to_email, mail_dir=MAIL_DIR):
    """The raw text of every message addressed to `to_email` in `mail_dir`, oldest first."""
    try:
        names = [name for name in os.listdir(mail_dir) if name.endswith(".eml")]
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(mail_dir, name)
        with open(path, "rb") as f:
            raw = f.read()
        message = _email_parser.BytesParser(policy=_email_policy.default).parsebytes(raw)
        recipients = [address.addr_spec.lower() for address in message["To"].addresses]
        if to_email.lower() in recipients:
            found.append((os.stat(path).st_mtime_ns, name, raw.decode("utf-8")))
    return [text for _, _, text in sorted(found)]


def read_mail(to_email, timeout=10):
    """The newest message to `to_email` (its RFC 5322 text, headers and body), waiting up to
    `timeout` seconds for one to arrive."""
    return wait_until(lambda: (mails_to(to_email) or [None])[-1], timeout=timeout,
                      what=f"an email to {to_email} in {MAIL_DIR}")


def _remove_mail_dir():
    # Registered after _cleanup, so it runs before it: stop the processes first (so none writes
    # another message), then remove the directory, which _cleanup only expects files in.
    for process in reversed(_processes):
        try:
            process.stop(timeout=5)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
    shutil.rmtree(MAIL_DIR, ignore_errors=True)


atexit.register(_remove_mail_dir)


# --------------------------------------------------------------------------------------------
# compliance accounts


def create_compliance(api, password=PASSWORD):
    """A compliance officer created by this server's admin (POST /api/v1/admin/users), signed in
    and with two-factor set up, as staff must before their token reaches anything else. A User
    with `password`, `totp_secret` and `recovery_codes`, like create_admin's."""
    email = unique_email("compliance")
    created = api.admin().post("/api/v1/admin/users", {
        "email": email, "password": password, "display_name": "Compliance Officer",
        "role": "compliance"})
    if created.status != 201:
        raise AssertionError(f"creating a compliance account failed: {created!r}")
    logged_in = api.login(email, password, consistency=created.header("Consistency-Token"))
    if logged_in.status != 200:
        raise AssertionError(f"compliance login failed: {logged_in!r}")
    officer = User(api, logged_in.body["user"]["id"], email, "compliance",
                   logged_in.body["access_token"])
    officer.password = password
    setup = officer.post("/api/v1/auth/2fa/setup")
    if setup.status != 200:
        raise AssertionError(f"2fa setup failed: {setup!r}")
    officer.totp_secret = setup.body["secret"]
    officer.last_totp_step = int(time.time()) // 30  # each step is accepted once
    confirmed = officer.post("/api/v1/auth/2fa/confirm",
                             {"totp": totp_code(officer.totp_secret,
                                                at=officer.last_totp_step * 30)})
    if confirmed.status != 200:
        raise AssertionError(f"2fa confirm failed: {confirmed!r}")
    officer.recovery_codes = confirmed.body["recovery_codes"]
    return officer
