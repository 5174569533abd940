# log engines: kafka
"""The audit stream as an analytics job or a compliance officer sees it: after a journey over
HTTP (register, profile, availability, book), an ordinary Kafka consumer (kcat) reads
counsel.events.v1 from the cluster. Every record is an event envelope keyed by its stream, the
booking is there, each partition's hash chain links up, and nothing personal is in clear text."""

import collections
import json
import unittest
import uuid

import harness

ENVELOPE_FIELDS = ("id", "type", "version", "stream", "sequence", "partition", "occurred_at",
                   "actor", "command_id", "correlation_id", "prev_hash", "hash", "data")


@unittest.skipUnless(harness.LOG_ENGINE == "kafka",
                     "reads the events topic with kcat: runs only with COUNSEL_E2E_LOG=kafka")
class KafkaConsumersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("kafka_consumers")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def test_kcat_reads_the_events_of_a_journey(self):
        marker = uuid.uuid4().hex[:8]
        counselor_name = f"Nomvula Analytics {marker}"
        client_name = f"Zanele Private {marker}"
        topic = f"Grief after a loss {marker}"
        counselor = self.api.new_user("counselor", display_name=counselor_name)
        self.assertEqual(counselor.put_profile().status, 200)
        self.assertEqual(counselor.put_availability().status, 200)
        self.api.verify(counselor)
        client = self.api.new_user("client", display_name=client_name)
        booked = harness.book(client, counselor.id, harness.weekday_at(10), topic=topic)
        self.assertEqual(booked.status, 201, booked)
        session_id = booked.body["id"]

        def booking_visible():
            records = harness.kcat_records("events")
            return records if any(session_id in value for _, value in records) else None

        records = harness.wait_until(booking_visible, timeout=20, interval=0.5,
                                     what="the booking in counsel.events.v1")
        events = []
        for key, value in records:
            event = json.loads(value)
            for field in ENVELOPE_FIELDS:
                self.assertIn(field, event, f"not an event envelope: {value[:300]}")
            self.assertEqual(key, event["stream"], "records are keyed by their stream")
            self.assertRegex(event["hash"], r"^[0-9a-f]{64}$")
            events.append(event)

        requested = [e for e in events
                     if e["type"] == "session.requested" and e["data"]["session_id"] == session_id]
        self.assertEqual(len(requested), 1, requested)
        self.assertEqual(requested[0]["stream"], f"counselor-{counselor.id}")
        self.assertEqual(requested[0]["data"]["client_id"], client.id)
        self.assertTrue(requested[0]["data"]["topic"].startswith("enc:v1:"), requested[0])
        registered = {e["data"]["user_id"]: e for e in events if e["type"] == "account.registered"}
        for user in (counselor, client):
            data = registered[user.id]["data"]
            for field in ("email", "display_name", "password_hash"):
                self.assertTrue(data[field].startswith("enc:v1:"), f"{field} of {user.role}")
        types = {e["type"] for e in events}
        for expected in ("account.registered", "counselor.profile_updated",
                         "counselor.availability_set", "session.requested"):
            self.assertIn(expected, types)

        # No personal data in clear text anywhere in the stream.
        raw = "\n".join(value for _, value in records)
        for secret in (counselor.email, client.email, counselor_name, client_name, topic,
                       harness.PASSWORD, "$argon2id"):
            self.assertNotIn(secret, raw)

        # Each partition is one hash chain, in offset order, as `counsel audit verify` checks.
        by_partition = collections.defaultdict(list)
        for event in events:
            by_partition[event["partition"]].append(event)
        for partition, chain in by_partition.items():
            self.assertEqual(chain[0]["prev_hash"], "", f"partition {partition} starts a chain")
            for before, after in zip(chain, chain[1:]):
                self.assertEqual(after["prev_hash"], before["hash"],
                                 f"partition {partition}: {after['id']} does not link to "
                                 f"{before['id']}")


if __name__ == "__main__":
    harness.main(time_limit=60)
