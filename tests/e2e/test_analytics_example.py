"""The example analytics consumer (ops/examples/bookings_per_day.py) against the mock cluster: after
bookings on two days over HTTP, it reads counsel.events.v1 as an outside Kafka consumer
(Debian's python3-confluent-kafka) and prints the right bookings per day, and the outcomes, with
no personal data in its output. Kafka only: the postgres engine has no topic to consume."""

import collections
import csv
import datetime as dt
import io
import os
import subprocess
import unittest
import uuid

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "ops", "examples", "bookings_per_day.py")


def utc_day(moment):
    return moment.astimezone(dt.timezone.utc).date().isoformat()


@unittest.skipUnless(harness.LOG_ENGINE == "kafka",
                     "the example consumes counsel.events.v1 from Kafka: runs only with "
                     "COUNSEL_E2E_LOG=kafka (the postgres engine has no Kafka topic)")
class AnalyticsExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("analytics_example")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def run_example(self, *extra):
        result = subprocess.run(
            ["/usr/bin/python3", EXAMPLE, "--bootstrap", harness.kafka_mock().bootstrap,
             "--group-id", f"analytics-test-{uuid.uuid4().hex[:8]}", "--until-idle", "3",
             "--kafka-config", harness.KAFKA_MOCK_CLIENT_SETTINGS, *extra],
            capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0,
                         f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result.stdout

    def test_counts_bookings_per_day_without_personal_data(self):
        marker = uuid.uuid4().hex[:8]
        counselor = harness.ready_counselor(self.api)
        # Two whole days, found by their earliest hour: asking per hour could put 09:00 on the
        # next day when the test runs late in the morning, into another booking's slot.
        day_one = harness.weekday_at(9).date()
        day_two = harness.weekday_at(9, skip_dates=(day_one,)).date()
        first_day = [harness.local_datetime(day_one, hour) for hour in (9, 11, 13)]
        second_day = [harness.local_datetime(day_two, hour) for hour in (10, 14)]
        secrets = [harness.PASSWORD, counselor.email]
        sessions = []
        for n, start in enumerate(first_day + second_day):
            name = f"Thandiwe Private{n} {marker}"
            topic = f"Panic attacks at work {n} {marker}"
            client = self.api.new_user("client", display_name=name)
            booked = harness.book(client, counselor.id, start, topic=topic)
            self.assertEqual(booked.status, 201, booked)
            sessions.append((client, booked.body["id"], start))
            secrets += [name, topic, client.email]
        expected = collections.Counter(utc_day(start) for _, _, start in sessions)
        self.assertEqual(len(expected), 2, "the bookings fall on two UTC days")

        # Outcomes: the counsellor confirms the first booking; the second one's client cancels.
        confirmed = counselor.post(f"/api/v1/sessions/{sessions[0][1]}/confirm")
        self.assertEqual(confirmed.status, 200, confirmed)
        reason = f"Moving to Durban {marker}"
        cancelled = sessions[1][0].post(f"/api/v1/sessions/{sessions[1][1]}/cancel",
                                        {"reason": reason})
        self.assertEqual(cancelled.status, 200, cancelled)
        secrets.append(reason)

        def all_logged():
            raw = "\n".join(value for _, value in harness.kcat_records("events"))
            return all(sid in raw for _, sid, _ in sessions) and \
                "session.cancelled" in raw and "session.confirmed" in raw
        harness.wait_until(all_logged, timeout=30, interval=0.5,
                           what="the bookings and outcomes in counsel.events.v1")

        output = self.run_example()
        rows = list(csv.reader(io.StringIO(output)))
        self.assertEqual(rows[0], ["date", "bookings"], output)
        self.assertEqual({day: int(count) for day, count in rows[1:]}, dict(expected), output)

        with_outcomes = self.run_example("--outcomes")
        rows = list(csv.DictReader(io.StringIO(with_outcomes)))
        by_day = {row["date"]: row for row in rows}
        self.assertEqual(set(by_day), set(expected), with_outcomes)
        first, total = utc_day(first_day[0]), collections.Counter()
        for day, row in by_day.items():
            self.assertEqual(int(row["bookings"]), expected[day], with_outcomes)
            total.update(confirmed=int(row["confirmed"]), cancelled=int(row["cancelled"]))
        self.assertEqual(by_day[first]["confirmed"], "1", with_outcomes)
        self.assertEqual(by_day[first]["cancelled"], "1", with_outcomes)
        self.assertEqual(total, collections.Counter(confirmed=1, cancelled=1), with_outcomes)

        # Nothing personal, not even ciphertext, reaches the analytics output.
        for text in (output, with_outcomes):
            self.assertNotIn("enc:v1:", text)
            self.assertNotIn("@", text)
            for secret in secrets:
                self.assertNotIn(secret, text)
            for client, session_id, _ in sessions:
                self.assertNotIn(client.id, text)
                self.assertNotIn(session_id, text)


if __name__ == "__main__":
    harness.main(time_limit=120)
