"""What an operator relies on: /health, /status, /metrics, `counsel log check` after real traffic
(every event validates against its schema and the hash chain verifies), and `counsel --help`."""

import json
import unittest

import harness
from harness import results_of

DOCUMENTED_VARIABLES = [
    "COUNSEL_DB", "COUNSEL_HTTP_ADDRESS", "COUNSEL_HTTP_PORT", "COUNSEL_LOG",
    "COUNSEL_PARTITIONS", "COUNSEL_JWT_SECRET_FILE", "COUNSEL_ACCESS_TOKEN_TTL",
    "COUNSEL_PASSWORD_HASH_COST", "COUNSEL_FAULT", "COUNSEL_KAFKA_BROKERS",
    "COUNSEL_KAFKA_CONFIG", "COUNSEL_RATE_LIMIT_AUTH", "COUNSEL_RATE_LIMIT_CHAT",
    "COUNSEL_RATE_LIMIT_GENERAL", "COUNSEL_RATE_LIMITS",
]


class OpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("ops")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def test_health(self):
        response = self.api.get("/health")
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.body["status"], "healthy")

    def test_status(self):
        response = self.api.get("/status")
        self.assertEqual(response.status, 200, response)
        for part in ("database", "log", "projections"):
            self.assertIn(part, response.body, response)
        self.assertEqual(response.body["log"]["engine"], harness.LOG_ENGINE, response)
        projections = json.dumps(response.body["projections"])
        for name in ("users", "counselors", "sessions"):
            self.assertIn(name, projections, f"/status reports the lag of {name}: {response!r}")
        self.assertIn("lag", projections)

    def test_metrics(self):
        self.api.get("/api/v1/me")  # at least one counted /api request
        response = self.api.get("/metrics")
        self.assertEqual(response.status, 200, response)
        self.assertTrue(response.content_type.startswith("text/plain"), response.content_type)
        self.assertIn("counsel_http_requests_total", response.text)
        samples = [line for line in response.text.splitlines()
                   if line.startswith("counsel_http_requests_total{")]
        self.assertTrue(samples, "requests are counted by route, method and status")

    def test_zz_log_check_after_traffic(self):
        """Named to run last: it checks the log the whole file (and this flow) produced."""
        run_a_full_flow(self, self.api)
        result = harness.run_counsel(["log", "check", "--db", self.db.conninfo,
                                      *harness.log_flags()], timeout=60)
        self.assertEqual(result.returncode, 0,
                         f"log check failed:\n{result.stdout}\n{result.stderr}")
        # and it works while the server keeps running
        self.assertTrue(self.server.alive())

    def test_help_documents_every_variable(self):
        result = harness.run_counsel(["--help"], timeout=20)
        self.assertEqual(result.returncode, 0, result.stderr)
        text = result.stdout + result.stderr
        for variable in DOCUMENTED_VARIABLES:
            self.assertIn(variable, text, f"counsel --help does not mention {variable}")
        for subcommand in ("serve", "api", "processor", "projector", "migrate", "seed-demo",
                           "projections", "log", "kafka-mock"):
            self.assertIn(subcommand, text)


def run_a_full_flow(test, api):
    """Every event type of the booking slice: registrations, profile, availability, and a
    session through each of its terminal states."""
    counselor = harness.ready_counselor(
        api, overrides=[{"date": harness.weekday_at(9, nth=6).date().isoformat(),
                         "unavailable": True}])
    client = api.new_user("client")
    outcomes = {"confirm": "confirmed", "decline": "declined", "cancel": "cancelled",
                "complete": "completed", "no-show": "no_show"}
    session_ids = []
    flows = (["confirm", "cancel"], ["decline"], ["cancel"], ["confirm", "complete"],
             ["confirm", "no-show"])
    for day, steps in enumerate(flows):  # one per day: no buffer interplay
        booked = harness.book(client, counselor.id, harness.weekday_at(10, nth=day),
                              topic="private")
        test.assertEqual(booked.status, 201, booked)
        session_id = booked.body["id"]
        session_ids.append(session_id)
        harness.wait_visible(counselor, session_id, booked.header("Consistency-Token"))
        for step in steps:
            actor = client if step == "cancel" else counselor
            body = {"reason": "flow"} if step in ("cancel", "decline") else None
            response = actor.post(f"/api/v1/sessions/{session_id}/{step}", body,
                                  consistency=booked.header("Consistency-Token"))
            test.assertEqual(response.status, 200, f"{step}: {response!r}")
            test.assertEqual(response.body["status"], outcomes[step])
    listed = {s["id"] for s in results_of(client.get("/api/v1/sessions"))}
    test.assertEqual(listed, set(session_ids))


if __name__ == "__main__":
    harness.main(time_limit=60)
