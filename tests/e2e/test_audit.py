"""`counsel audit replay` and `counsel audit verify` against a log with real traffic: replay
writes exactly the logged events that pass each filter (JSON Lines and CSV, stdout and a file),
and verify accepts the intact log but finds an edited, a deleted and a reordered record at the
position where the tampering happened."""

import csv
import io
import json
import os
import re
import unittest

import harness


def by_partition(events):
    grouped = {}
    for event in events:
        grouped.setdefault(event["partition"], []).append(event)
    return grouped


def mentions(value, user_id):
    """The subject rule of `audit replay --subject`: an *_id member (or an *_ids array) holding
    the id, at any depth of the data."""
    if isinstance(value, list):
        return any(mentions(item, user_id) for item in value)
    if not isinstance(value, dict):
        return False
    for name, member in value.items():
        if name.endswith("_id") and member == user_id:
            return True
        if name.endswith("_ids") and isinstance(member, list) and user_id in member:
            return True
        if isinstance(member, (dict, list)) and mentions(member, user_id):
            return True
    return False


class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("audit")
        server = harness.CounselProcess("serve", cls.db)
        api = harness.Api(server.base_url)
        cls.counselor = harness.ready_counselor(api)
        cls.client = api.new_user("client")
        booked = harness.book(cls.client, cls.counselor.id, harness.weekday_at(10))
        assert booked.status == 201, booked
        cls.session_id = booked.body["id"]
        harness.wait_visible(cls.counselor, cls.session_id, booked.header("Consistency-Token"))
        confirmed = cls.counselor.post(f"/api/v1/sessions/{cls.session_id}/confirm",
                                       consistency=booked.header("Consistency-Token"))
        assert confirmed.status == 200, confirmed
        # A stopped server makes the log a fixed reference to compare with (and lets the
        # postgres database be copied as a template). `log check` covers a running server.
        server.stop()
        cls.logged = harness.logged_events(cls.db)
        cls.flags = ["--db", cls.db.conninfo, *harness.log_flags()]
        cls.everything = cls.replay_jsonl()

    @classmethod
    def replay(cls, *args, flags=None):
        result = harness.run_counsel(["audit", "replay", *(flags or cls.flags), *args],
                                     timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"audit replay {args} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    @classmethod
    def replay_jsonl(cls, *args):
        result = cls.replay(*args)
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert re.search(rf"replayed {len(lines)} of \d+ events in [\d.]+ s \(\d+ events/s\)",
                         result.stderr), result.stderr
        return lines

    def assert_same_events(self, replayed, expected):
        """Same events, in the same order within each partition."""
        stripped = [{k: v for k, v in event.items() if k != "offset"} for event in replayed]
        self.assertEqual(by_partition(stripped), by_partition(expected))

    def test_replays_every_logged_event(self):
        self.assertGreater(len(self.logged), 5)
        self.assert_same_events(self.everything, self.logged)
        for partition, events in by_partition(self.everything).items():
            offsets = [event["offset"] for event in events]
            self.assertEqual(offsets, sorted(offsets), f"partition {partition} in offset order")

    def test_type_filter_with_prefixes_and_lists(self):
        expected = [e for e in self.logged if e["type"].startswith("session.")]
        self.assertTrue(expected)
        self.assert_same_events(self.replay_jsonl("--type", "session.*"), expected)
        wanted = {"session.confirmed", "account.registered"}
        expected = [e for e in self.logged if e["type"] in wanted]
        self.assertTrue(expected)
        self.assert_same_events(
            self.replay_jsonl("--type", "session.confirmed,account.registered"), expected)
        self.assert_same_events(
            self.replay_jsonl("--type", "session.confirmed", "--type", "account.registered"),
            expected)

    def test_actor_filter(self):
        expected = [e for e in self.logged if e["actor"]["id"] == self.counselor.id]
        self.assertTrue(expected)
        self.assert_same_events(self.replay_jsonl("--actor", self.counselor.id), expected)

    def test_subject_filter(self):
        for user in (self.client, self.counselor):
            expected = [e for e in self.logged
                        if e["stream"] in (f"account-{user.id}", f"counselor-{user.id}")
                        or mentions(e["data"], user.id)]
            self.assertTrue(expected)
            self.assert_same_events(self.replay_jsonl("--subject", user.id), expected)
        self.assertEqual(self.replay_jsonl("--subject", "00000000-0000-4000-8000-000000000000"),
                         [])

    def test_stream_filter(self):
        stream = next(e["stream"] for e in self.logged if e["type"] == "session.confirmed")
        expected = [e for e in self.logged if e["stream"] == stream]
        self.assertGreaterEqual(len(expected), 2)
        self.assert_same_events(self.replay_jsonl("--stream", stream), expected)

    def test_time_range_is_half_open(self):
        times = sorted({e["occurred_at"] for e in self.logged})
        self.assertGreaterEqual(len(times), 3)
        start, stop = times[1], times[-1]
        expected = [e for e in self.logged if start <= e["occurred_at"] < stop]
        self.assert_same_events(self.replay_jsonl("--from", start, "--to", stop), expected)

    def test_position_range_reads_one_partition(self):
        partition, events = max(by_partition(self.everything).items(),
                                key=lambda item: len(item[1]))
        self.assertGreaterEqual(len(events), 3)
        start, stop = events[1]["offset"], events[-1]["offset"]
        replayed = self.replay_jsonl("--from", f"{partition}:{start}", "--to",
                                     f"{partition}:{stop}")
        self.assertEqual(replayed, [e for e in events if start <= e["offset"] < stop])
        self.assertEqual(self.replay_jsonl("--from", f"{partition}:{start}"), events[1:])

    def test_csv_has_the_documented_columns(self):
        rows = list(csv.DictReader(io.StringIO(
            self.replay("--format", "csv", "--type", "session.*").stdout)))
        expected = [e for e in self.everything if e["type"].startswith("session.")]
        self.assertEqual(len(rows), len(expected))
        by_id = {e["id"]: e for e in expected}
        for row in rows:
            self.assertEqual(list(row), ["partition", "offset", "occurred_at", "type", "stream",
                                         "sequence", "actor_id", "actor_role", "event_id", "hash",
                                         "data"])
            event = by_id[row["event_id"]]
            self.assertEqual(
                (int(row["partition"]), int(row["offset"]), row["occurred_at"], row["type"],
                 row["stream"], int(row["sequence"]), row["actor_id"], row["actor_role"],
                 row["hash"], json.loads(row["data"])),
                (event["partition"], event["offset"], event["occurred_at"], event["type"],
                 event["stream"], event["sequence"], event["actor"]["id"],
                 event["actor"]["role"], event["hash"], event["data"]))

    def test_output_file(self):
        directory = os.path.join(harness._workdir, "audit-out")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "bookings.csv")
        result = self.replay("--type", "session.*", "--format", "csv", "--output", path)
        self.assertEqual(result.stdout, "")
        with open(path, encoding="utf-8", newline="") as f:
            written = f.read()
        self.assertEqual(written, self.replay("--type", "session.*", "--format", "csv").stdout)
        self.assertEqual(os.listdir(directory), ["bookings.csv"], "no temporary file is left")

    def test_usage_errors_exit_2(self):
        for args in (["--format", "xml"], ["--actor", "not-a-uuid"], ["--from", "yesterday"],
                     ["--from", "1:5", "--to", "2:9"]):
            result = harness.run_counsel(["audit", "replay", *self.flags, *args], timeout=60)
            self.assertEqual(result.returncode, 2, f"{args}: {result.stderr}")
        result = harness.run_counsel(["audit", "verify", *self.flags, "--from-checkpoint", "1:2"],
                                     timeout=60)
        self.assertEqual(result.returncode, 2, result.stderr)

    def test_verify_accepts_the_intact_log(self):
        result = harness.run_counsel(["audit", "verify", *self.flags], timeout=120)
        self.assertEqual(result.returncode, 0, f"{result.stdout}\n{result.stderr}")
        self.assertIn("every hash chain is intact", result.stdout)
        self.assertRegex(result.stdout, rf"verified {len(self.logged)} events in \d+ partitions")
        # Each partition's head is a checkpoint the next verify can start from.
        heads = re.findall(r"head (\d+:\d+:[0-9a-f]{64})", result.stdout)
        self.assertTrue(heads)
        args = [a for head in heads for a in ("--from-checkpoint", head)]
        result = harness.run_counsel(["audit", "verify", *self.flags, *args], timeout=120)
        self.assertEqual(result.returncode, 0, f"{result.stdout}\n{result.stderr}")
        self.assertRegex(result.stdout, rf"verified {len(heads)} events")

    # The Kafka mock's records cannot be edited, deleted or reordered from outside, so the
    # tampering half runs on the postgres engine only (the chain walk is the same code for
    # both engines, and the unit tests cover it on in-memory records).
    @unittest.skipIf(harness.LOG_ENGINE != "postgres", "records of the Kafka mock are immutable")
    def test_verify_finds_edited_deleted_and_reordered_records(self):
        partition, events = max(by_partition(self.everything).items(),
                                key=lambda item: len(item[1]))
        self.assertGreaterEqual(len(events), 3)
        offset = events[1]["offset"]  # one with records on both sides
        where = f"topic = 2 AND partition = {partition} AND \"offset\" = {offset}"
        tamperings = {
            # jsonb re-spaces the text, but the hash is over the canonical form: only the
            # changed member makes a difference.
            "hash_mismatch": f"UPDATE log.records SET value = jsonb_set(value::jsonb, "
                             f"'{{data,tampered}}', 'true')::text WHERE {where}",
            "missing_offsets": f"DELETE FROM log.records WHERE {where}",
            "prev_hash_mismatch":
                f"UPDATE log.records r SET value = o.value FROM log.records o "
                f"WHERE r.topic = 2 AND o.topic = 2 AND r.partition = {partition} "
                f"AND o.partition = {partition} AND r.\"offset\" + o.\"offset\" = "
                f"{2 * offset + 1} AND r.\"offset\" IN ({offset}, {offset + 1})",
        }
        for fault, sql in tamperings.items():
            with self.subTest(fault):
                copy = harness.TestDatabase(f"audit_{fault}")
                harness.psql(f'DROP DATABASE "{copy.name}"')
                harness.psql(f'CREATE DATABASE "{copy.name}" TEMPLATE "{self.db.name}"')
                copy.query(sql)
                flags = ["--db", copy.conninfo, *harness.log_flags()]
                result = harness.run_counsel(["audit", "verify", *flags], timeout=120)
                self.assertEqual(result.returncode, 1, f"{result.stdout}\n{result.stderr}")
                self.assertRegex(result.stdout,
                                 rf"BROKEN partition {partition} offset {offset}\b.*: {fault}")
                self.assertEqual(len(re.findall(r"^BROKEN", result.stdout, re.M)), 1,
                                 result.stdout)
                # log check shares the walk and agrees
                result = harness.run_counsel(["log", "check", *flags], timeout=120)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(f"partition {partition} offset {offset}", result.stdout)
        # The partition's last record deleted: nothing after it links back, but the partition's
        # end says where records must be.
        with self.subTest("missing tail"):
            last = events[-1]["offset"]
            copy = harness.TestDatabase("audit_tail")
            harness.psql(f'DROP DATABASE "{copy.name}"')
            harness.psql(f'CREATE DATABASE "{copy.name}" TEMPLATE "{self.db.name}"')
            copy.query(f"DELETE FROM log.records WHERE topic = 2 AND partition = {partition}"
                       f" AND \"offset\" = {last}")
            flags = ["--db", copy.conninfo, *harness.log_flags()]
            result = harness.run_counsel(["audit", "verify", *flags], timeout=120)
            self.assertEqual(result.returncode, 1, f"{result.stdout}\n{result.stderr}")
            self.assertRegex(result.stdout,
                             rf"BROKEN partition {partition} offset {last}\b.*: missing_offsets")


if __name__ == "__main__":
    harness.main(time_limit=120)
