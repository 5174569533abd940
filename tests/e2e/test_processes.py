"""The roles as separate processes sharing one log and one database: 1 api + 2 processors +
1 projector. A processor killed with SIGKILL is replaced by the other; a processor that dies in
the middle of its work loses nothing and duplicates nothing when the request is retried: on the
postgres engine it dies right after its atomic append, on Kafka after producing a transaction's
records but before committing it (the mock cluster does not enforce transactions, so those
records are visible: only command-id dedupe keeps the retry from booking twice)."""

import time
import unittest
import uuid

import harness
from harness import parse_time

TAKEOVER_LIMIT_SECONDS = 20  # the contract says ~10 s; leave room for a loaded CI machine
CRASH_FAULT = {"postgres": "processor_crash_after_append",
               "kafka": "processor_crash_before_commit"}[harness.LOG_ENGINE]


class ProcessesTest(unittest.TestCase):
    def test_failover_and_crash_mid_command(self):
        db = harness.TestDatabase("processes")
        api_process = harness.CounselProcess("api", db)
        # The first processor starts alone so it takes the partitions; it is the one killed.
        first = harness.CounselProcess("processor", db, name="processor-1")
        second = harness.CounselProcess("processor", db, name="processor-2")
        harness.CounselProcess("projector", db)
        api = harness.Api(api_process.base_url)

        counselor = harness.ready_counselor(api, buffer_minutes=0)
        client = api.new_user("client")
        booked = {}  # start -> session id

        def book(nth, deadline=TAKEOVER_LIMIT_SECONDS + 10):
            start = harness.weekday_at(9 + nth % 8, nth=nth // 8)
            response, attempts = harness.book_until_final(
                client, counselor.id, start, str(uuid.uuid4()), deadline_seconds=deadline)
            self.assertEqual(response.status, 201, response)
            self.assertEqual(parse_time(response.body["start"]), start)
            booked[start] = response.body["id"]
            return attempts

        for nth in range(3):
            book(nth)

        # --- SIGKILL the first processor; the second takes over its partitions
        first.kill()
        killed_at = time.monotonic()
        book(3)
        self.assertLess(time.monotonic() - killed_at, TAKEOVER_LIMIT_SECONDS,
                        "the surviving processor took over in time")
        for nth in range(4, 6):
            book(nth)
        # a new registration (another stream, likely another partition) works too
        # (retried with one Idempotency-Key: a command may time out while partitions move)
        _, latecomer = api.register_until_final("client")
        self.assertEqual(latecomer.status, 201, latecomer)
        self.assertTrue(latecomer.body["id"])
        self.assertTrue(second.alive())

        self.assertSessionsAre(client, booked)

        # --- a processor that dies half-way through the work of a booking
        self.assertEqual(second.stop(), 0, "a processor stops cleanly on SIGTERM:\n"
                         + second.output_tail())
        faulty = harness.CounselProcess("processor", db, name="processor-faulty",
                                        env={"COUNSEL_FAULT": CRASH_FAULT})
        start = harness.weekday_at(9, nth=3)
        key = str(uuid.uuid4())
        first_answer = None
        try:
            first_answer = harness.book(client, counselor.id, start,
                                        headers={"Idempotency-Key": key}, timeout=15)
        except (OSError, TimeoutError):
            pass  # no answer is a fine answer from a system whose processor just died
        self.assertIsNotNone(faulty.wait_exit(timeout=15),
                             f"the fault hook ({CRASH_FAULT}) kills the processor")
        self.assertNotEqual(faulty.proc.returncode, 0)

        harness.CounselProcess("processor", db, name="processor-3")
        retried, _ = harness.book_until_final(client, counselor.id, start, key,
                                              deadline_seconds=TAKEOVER_LIMIT_SECONDS + 10)
        self.assertEqual(retried.status, 201, retried)
        session_id = retried.body["id"]
        if first_answer is not None and first_answer.status == 201:
            self.assertEqual(first_answer.body["id"], session_id,
                             "the retry yields the first outcome")
        # a retry of the retry is still the same booking, not a slot_unavailable
        again, _ = harness.book_until_final(client, counselor.id, start, key, deadline_seconds=15)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.body["id"], session_id)
        booked[start] = session_id

        self.assertSessionsAre(client, booked)
        # The audit stream, read from the log itself, holds that booking exactly once.
        requested = [event for event in harness.logged_events(db)
                     if event["type"] == "session.requested"
                     and event["data"].get("session_id") == session_id]
        self.assertEqual(len(requested), 1, f"session.requested events for {session_id}: "
                         f"{[event['id'] for event in requested]}")

    def test_a_booking_answered_before_the_read_model_has_it_shows_its_own_topic(self):
        """With the projector stopped, a booking's answer comes from the processor's result
        (the read model cannot have the session in time). The aggregate keeps no topic; the
        api gives the client back the topic it just sent, never ciphertext or nothing."""
        db = harness.TestDatabase("processes_lagging")
        api_process = harness.CounselProcess("api", db,
                                             extra_args=["--consistency-wait-ms", "300"])
        processor = harness.CounselProcess("processor", db)
        projector = harness.CounselProcess("projector", db)
        # On Kafka every test of this file shares one mock cluster, and so one consumer group
        # per role: a processor left running would take partitions from the next test's.
        for process in (processor, projector, api_process):
            self.addCleanup(process.stop)
        api = harness.Api(api_process.base_url)
        counselor = harness.ready_counselor(api, buffer_minutes=0)
        client = api.new_user("client")
        self.assertEqual(projector.stop(), 0, projector.output_tail())

        start = harness.weekday_at(10)
        response = harness.book(client, counselor.id, start, topic="Exam stress, again")
        self.assertEqual(response.status, 201, response)
        self.assertEqual(response.body["topic"], "Exam stress, again")
        self.assertEqual(response.body["status"], "requested")
        self.assertEqual(parse_time(response.body["start"]), start)
        self.assertEqual(response.body["client_id"], client.id)
        # Not in the read model: the answer was the command's own.
        listed = client.get("/api/v1/sessions")
        self.assertEqual(listed.status, 200, listed)
        self.assertNotIn(response.body["id"], [s["id"] for s in harness.results_of(listed)])

    def assertSessionsAre(self, client, booked):
        """The client's sessions are exactly the booked ones: none lost, none doubled."""
        sessions = harness.wait_until(
            lambda: _if_count(harness.list_all_sessions(client), len(booked)),
            timeout=15, what=f"{len(booked)} sessions in the read model")
        ids = [s["id"] for s in sessions]
        self.assertEqual(len(ids), len(set(ids)), f"duplicate sessions: {ids}")
        by_start = {}
        for session in sessions:
            by_start.setdefault(parse_time(session["start"]), []).append(session["id"])
        self.assertEqual(by_start, {start: [sid] for start, sid in booked.items()})


def _if_count(sessions, count):
    return sessions if len(sessions) >= count else None


if __name__ == "__main__":
    harness.main(time_limit=90)
