"""Rate limits (seed 001): per client IP or user, 429 problem `rate_limited` with Retry-After,
recovery once the window passes, /health never limited, and the switch that turns them off.

The server runs with small limits (auth 3/min, general 2/s). Each test sends from its own
loopback address (127.0.0.N: Linux routes all of 127/8 to lo), so the tests do not share a
client budget and the limiter is seen keying by address.
"""
# log engines: postgres
# (the limiter sits in front of the router; the log engine plays no part)

import http.client
import json
import re
import time
import unittest

import harness

AUTH_LIMIT = 3  # per minute: one more every 20 s after a burst of 3
GENERAL_LIMIT = 2  # per second


def call_from(source_ip, base_url, method, path, body=None, token=None, headers=None):
    """One request sent from `source_ip`; returns a harness.Response."""
    match = re.match(r"http://([^:/]+):(\d+)", base_url)
    connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=10,
                                            source_address=(source_ip, 0))
    try:
        all_headers = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return harness.Response(response.status, response.headers, response.read())
    finally:
        connection.close()


class RateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("rate_limits")
        cls.server = harness.CounselProcess("serve", cls.db, env={
            "COUNSEL_RATE_LIMITS": "on",
            "COUNSEL_RATE_LIMIT_AUTH": f"{AUTH_LIMIT}/min",
            "COUNSEL_RATE_LIMIT_GENERAL": f"{GENERAL_LIMIT}/s",
        })
        cls.base = cls.server.base_url

    def login(self, source_ip, email="nobody@example.org", password="wrong-password-1"):
        return call_from(source_ip, self.base, "POST", "/api/v1/auth/login",
                         {"email": email, "password": password})

    def assert_rate_limited(self, response, max_retry_after):
        harness.assert_problem(self, response, 429, "rate_limited")
        retry_after = response.header("Retry-After")
        self.assertIsNotNone(retry_after, f"429 without Retry-After: {response!r}")
        self.assertRegex(retry_after, r"^\d+$", "Retry-After is whole seconds")
        self.assertGreaterEqual(int(retry_after), 1)
        self.assertLessEqual(int(retry_after), max_retry_after)
        return int(retry_after)

    def test_the_login_after_the_auth_limit_is_refused_per_address(self):
        ip = "127.0.0.2"
        for attempt in range(AUTH_LIMIT):
            response = self.login(ip)
            self.assertEqual(response.status, 401, f"attempt {attempt + 1}: {response!r}")
        retry_after = self.assert_rate_limited(self.login(ip), max_retry_after=20)
        self.assertGreater(retry_after, 15, "3/min refills one attempt every 20 s")
        # Refusals do not extend the wait, and they stay refusals.
        self.assertLessEqual(self.assert_rate_limited(self.login(ip), max_retry_after=20),
                             retry_after)
        # Another address has its own budget.
        self.assertEqual(self.login("127.0.0.3").status, 401)
        # Another class from the same address is not affected.
        response = call_from(ip, self.base, "GET", "/api/v1/me")
        harness.assert_problem(self, response, 401, "not_authenticated")

    def test_a_tiny_window_recovers_after_retry_after(self):
        ip = "127.0.0.4"
        for _ in range(GENERAL_LIMIT):
            self.assertEqual(call_from(ip, self.base, "GET", "/api/v1/me").status, 401)
        retry_after = self.assert_rate_limited(call_from(ip, self.base, "GET", "/api/v1/me"),
                                               max_retry_after=1)
        time.sleep(retry_after + 0.1)
        response = call_from(ip, self.base, "GET", "/api/v1/me")
        self.assertEqual(response.status, 401, f"the limit recovers: {response!r}")

    def test_a_signed_in_user_is_limited_as_the_user_not_the_address(self):
        ip = "127.0.0.5"
        email = harness.unique_email("limited")
        registered = call_from(ip, self.base, "POST", "/api/v1/auth/register", {
            "email": email, "password": harness.PASSWORD, "role": "client",
            "display_name": "Rate Limited"})
        self.assertEqual(registered.status, 201, registered)
        logged_in = call_from(ip, self.base, "POST", "/api/v1/auth/login",
                              {"email": email, "password": harness.PASSWORD},
                              headers={"Consistency-Token":
                                       registered.header("Consistency-Token")})
        self.assertEqual(logged_in.status, 200, logged_in)
        token = logged_in.body["access_token"]
        for _ in range(GENERAL_LIMIT):
            self.assertEqual(call_from(ip, self.base, "GET", "/api/v1/me", token=token).status,
                             200)
        # The user's budget is spent, wherever they call from...
        self.assert_rate_limited(call_from(ip, self.base, "GET", "/api/v1/me", token=token), 1)
        self.assert_rate_limited(
            call_from("127.0.0.6", self.base, "GET", "/api/v1/me", token=token), 1)
        # ...but the address's own budget (no token, or an invalid one) is untouched.
        self.assertEqual(call_from(ip, self.base, "GET", "/api/v1/me").status, 401)
        self.assertEqual(call_from(ip, self.base, "GET", "/api/v1/me", token="forged").status, 401)

    def test_ops_endpoints_are_never_limited(self):
        ip = "127.0.0.7"
        for path in ("/health", "/status", "/metrics"):
            for _ in range(10):
                response = call_from(ip, self.base, "GET", path)
                self.assertEqual(response.status, 200, f"{path}: {response!r}")

    def test_refusals_are_counted_in_metrics(self):
        ip = "127.0.0.8"
        statuses = [self.login(ip).status for _ in range(AUTH_LIMIT + 1)]
        self.assertEqual(statuses[-1], 429, statuses)
        metrics = call_from(ip, self.base, "GET", "/metrics").text
        match = re.search(r'^counsel_rate_limited_total\{class="auth"\} (\d+)', metrics, re.M)
        self.assertIsNotNone(match, "counsel_rate_limited_total{class=\"auth\"} is exported")
        self.assertGreaterEqual(int(match.group(1)), 1)
        self.assertRegex(metrics, r'counsel_http_requests_total\{[^}]*route="/api/v1/auth/login"'
                                  r'[^}]*status="429"')


class SwitchTest(unittest.TestCase):
    def test_rate_limits_off_never_refuses(self):
        db = harness.TestDatabase("rate_limits_off")
        server = harness.CounselProcess("serve", db, env={
            "COUNSEL_RATE_LIMITS": "off", "COUNSEL_RATE_LIMIT_AUTH": "1/hour"})
        for _ in range(5):
            response = call_from("127.0.0.9", server.base_url, "POST", "/api/v1/auth/login",
                                 {"email": "nobody@example.org", "password": "wrong-password-1"})
            self.assertEqual(response.status, 401, response)

    def test_an_invalid_limit_stops_the_start_with_a_clear_error(self):
        result = harness.run_counsel(["serve", "--rate-limit-auth", "ten/min"])
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("--rate-limit-auth", result.stderr)
        self.assertIn("10/min", result.stderr)
        result = harness.run_counsel(["serve"], env={"COUNSEL_RATE_LIMITS": "maybe"})
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("--rate-limits must be on or off", result.stderr)


if __name__ == "__main__":
    harness.main(time_limit=90)
