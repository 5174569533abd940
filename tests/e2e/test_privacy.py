"""Privacy (issue 6): every read of someone else's sensitive data leaves an access.recorded event
(profile, client profile, patient record, session, chat history); GET /api/v1/me/export holds
the caller's data, who read it, and nobody else's; POST /api/v1/me/erase crypto-shreds the
caller - afterwards none of their clear-text personal data is readable in the events log, the
read models (the whole database), a rebuild or the processes' output, another api process's
key cache learned it, and the hash chain still verifies. Clinicians' records wait for an
admin's approval first."""

import json
import secrets
import subprocess
import time
import unittest

import harness


def marker(label):
    """A string that appears nowhere unless we put it there."""
    return f"{label}-{secrets.token_hex(6)}"


def patient_record(first_name, allergy):
    return {
        "password": "s3cret-pass", "first_name": first_name, "last_name": "Khumalo",
        "phone_no": "+27" + "".join(secrets.choice("0123456789") for _ in range(9)),
        "allergies_and_medication": allergy, "date_of_birth": "1990-04-01", "sex": "F",
        "email": "", "address": "", "tags": [], "sessions": []}


def access_events(db, subject_id):
    return [e for e in harness.logged_events(db)
            if e["type"] == "access.recorded" and e["data"]["subject_id"] == subject_id]


def wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class PrivacyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("privacy")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        cls.admin = cls.api.admin()

    def booked_client(self, hour=10, topic="", display_name=None):
        """A new client with a session booked with a new counsellor (self.counselor)."""
        self.counselor = harness.ready_counselor(self.api)
        client = self.api.new_user("client", display_name=display_name)
        booked = harness.book(client, self.counselor.id, harness.weekday_at(hour), topic=topic)
        self.assertEqual(booked.status, 201, booked)
        client.consistency = booked.header("Consistency-Token")
        self.counselor.consistency = client.consistency
        return client, booked.body["id"]

    def open_room(self, client, session_id):
        opened = client.post("/api/v1/chatrooms", {"session_id": session_id})
        self.assertIn(opened.status, (200, 201), opened)
        client.consistency = opened.header("Consistency-Token") or client.consistency
        self.counselor.consistency = client.consistency
        return opened.body["id"]

    def say(self, user, room_id, text):
        sent = user.post(f"/api/v1/chatrooms/{room_id}/messages", {"content": text})
        self.assertEqual(sent.status, 201, sent)
        user.consistency = sent.header("Consistency-Token") or user.consistency
        return sent

    def dump(self):
        return subprocess.run(
            ["pg_dump", "--data-only", "-h", harness.PG_HOST, "-p", harness.PG_PORT,
             "-U", "counsel", "-d", self.db.name],
            capture_output=True, text=True, timeout=60, check=True).stdout

    # ---------------------------------------------------------------------------------------

    def test_each_sensitive_read_is_recorded_and_own_reads_are_not(self):
        client, session_id = self.booked_client(9)
        created = client.post("/api/v1/patients", patient_record("Thandi", "Penicillin"))
        self.assertEqual(created.status, 201, created)
        patient_id = created.body["id"]
        room_id = self.open_room(client, session_id)
        self.say(client, room_id, "hello")
        counselor = self.counselor
        counselor.consistency = client.consistency
        stranger = self.api.new_user("client")

        # The client's own reads: nothing to record.
        for path in (f"/api/v1/users/{client.id}", f"/api/v1/clients/{client.id}",
                     f"/api/v1/sessions/{session_id}", f"/api/v1/patients/{patient_id}",
                     f"/api/v1/chatrooms/{room_id}/messages", "/api/v1/sessions",
                     "/api/v1/patients"):
            self.assertEqual(client.get(path).status, 200, path)
        # Others' reads, each with the rule that let it through.
        expected = set()
        for reader, path, what, resource, why in (
                (counselor, f"/api/v1/clients/{client.id}", "client_profile", client.id,
                 "care_relationship"),
                (counselor, f"/api/v1/sessions/{session_id}", "session", session_id,
                 "care_relationship"),
                (counselor, f"/api/v1/patients/{patient_id}", "patient_record", patient_id,
                 "care_relationship"),
                (counselor, f"/api/v1/chatrooms/{room_id}/messages", "chat_history", room_id,
                 "care_relationship"),
                (stranger, f"/api/v1/users/{client.id}", "user_profile", client.id, "directory"),
                (self.admin, f"/api/v1/users/{client.id}", "user_profile", client.id,
                 "administration")):
            response = reader.get(path, consistency=client.consistency)
            self.assertEqual(response.status, 200, (path, response))
            expected.add((reader.id, reader.role, what, resource, why))
        # Lists record each record shown.
        self.assertEqual(counselor.get("/api/v1/patients").status, 200)
        self.assertEqual(counselor.get("/api/v1/sessions").status, 200)

        def recorded():
            events = access_events(self.db, client.id)
            found = {(e["actor"]["id"], e["actor"]["role"], e["data"]["what"],
                      e["data"]["resource_id"], e["data"]["why"]) for e in events}
            return events if expected <= found and len(events) >= len(expected) + 2 else None

        events = wait_for(recorded, "the access events")
        for event in events:
            self.assertEqual(event["stream"], f"access-{client.id}")
            self.assertNotEqual(event["actor"]["id"], client.id)
        # The compliance officer finds them by subject and type.
        compliance = harness.create_compliance(self.api)

        def audited():
            listed = compliance.get(f"/api/v1/audit?subject={client.id}&type=access.recorded"
                                    "&per_page=100")
            return listed if listed.status == 200 and listed.body["total"] >= len(events) else None

        audited = wait_for(audited, "the access events in the audit read model")
        self.assertTrue(all(r["type"] == "access.recorded" for r in audited.body["results"]))
        # Nothing was late or refused, and the counters say what went through.
        metrics = harness.http_request("GET", self.server.base_url + "/metrics").raw.decode()
        appended = [line for line in metrics.splitlines()
                    if line.startswith('counsel_access_records_total{outcome="appended"}')]
        self.assertTrue(appended and float(appended[0].split()[-1]) >= len(events), appended)

    def test_export_holds_my_data_who_read_it_and_nobody_elses(self):
        mine = {k: marker(k) for k in ("bio", "topic", "said", "allergy", "name")}
        theirs = {k: marker(k) for k in ("bio", "topic", "said", "allergy", "name")}
        counselor_said = marker("counsellor-said")
        people = {}
        for who, words in (("me", mine), ("other", theirs)):
            client, session_id = self.booked_client(topic=words["topic"],
                                                    display_name=words["name"])
            if who == "me":
                my_counselor = self.counselor
            self.assertEqual(client.put(f"/api/v1/clients/{client.id}",
                                        {"bio": words["bio"]}).status, 200)
            created = client.post("/api/v1/patients", patient_record("Lerato", words["allergy"]))
            self.assertEqual(created.status, 201, created)
            room_id = self.open_room(client, session_id)
            self.say(client, room_id, words["said"])
            people[who] = (client, session_id, created.body["id"], room_id)
        me, my_session, my_patient, my_room = people["me"]
        self.counselor = my_counselor
        self.counselor.consistency = me.consistency
        self.say(self.counselor, my_room, counselor_said)
        # The counsellor reads my record: the export must say so.
        self.assertEqual(self.counselor.get(f"/api/v1/patients/{my_patient}",
                                            consistency=me.consistency).status, 200)

        def exported():
            response = me.get("/api/v1/me/export")
            self.assertEqual(response.status, 200, response)
            accessed = response.body["data"]["accessed_by"]
            return response if any(a["what"] == "patient_record" for a in accessed) else None

        response = wait_for(exported, "the counsellor's read in the export")
        self.assertIn("attachment", response.header("Content-Disposition"))
        body, data = response.text, response.body["data"]
        self.assertEqual(response.body["user_id"], me.id)
        self.assertEqual(data["account"]["email"], me.email)
        self.assertEqual(data["account"]["display_name"], mine["name"])
        self.assertEqual(data["client_profile"]["bio"], mine["bio"])
        self.assertEqual([s["id"] for s in data["sessions_as_client"]], [my_session])
        self.assertEqual(data["sessions_as_client"][0]["topic"], mine["topic"])
        self.assertEqual([p["id"] for p in data["patient_records"]], [my_patient])
        self.assertEqual(data["patient_records"][0]["allergies_and_medication"], mine["allergy"])
        rooms = data["chat_rooms"]
        self.assertEqual([r["id"] for r in rooms], [my_room])
        said = [m for m in rooms[0]["messages"] if m["sender_id"] == me.id]
        self.assertEqual([m["content"] for m in said], [mine["said"]])
        others = [m for m in rooms[0]["messages"] if m["sender_id"] != me.id]
        self.assertTrue(others and all(m["content"] is None for m in others), others)
        reads = [a for a in data["accessed_by"] if a["what"] == "patient_record"]
        self.assertEqual(reads[0]["reader_id"], self.counselor.id)
        self.assertEqual(reads[0]["reader_role"], "counselor")
        self.assertEqual(reads[0]["resource_id"], my_patient)
        # Nobody else's data: not the other client's, not what the counsellor wrote.
        other = people["other"][0]
        for text in (*theirs.values(), other.email, other.id, counselor_said,
                     self.counselor.email):
            self.assertNotIn(text, body)

    def test_erasure_leaves_no_clear_text_and_the_chain_verifies(self):
        words = {k: marker(k) for k in ("name", "bio", "address", "topic", "said", "reason",
                                        "alias")}
        client, session_id = self.booked_client(12, topic=words["topic"],
                                                display_name=words["name"])
        profile = client.put(f"/api/v1/clients/{client.id}",
                             {"bio": words["bio"], "address": words["address"]})
        self.assertEqual(profile.status, 200, profile)
        room_id = self.open_room(client, session_id)
        self.say(client, room_id, words["said"])
        # A second session, cancelled with a reason: the reason is the client's data too.
        other_booking = harness.book(client, self.counselor.id, harness.weekday_at(14))
        self.assertEqual(other_booking.status, 201, other_booking)
        other_session = other_booking.body["id"]
        cancelled = client.post(f"/api/v1/sessions/{other_session}/cancel",
                                {"reason": words["reason"]})
        self.assertEqual(cancelled.status, 200, cancelled)
        client.consistency = cancelled.header("Consistency-Token") or client.consistency
        # Another api process reads (and caches the key for) the client's message first.
        second = harness.CounselProcess("api", self.db, name="second-api")
        try:
            reader = harness.User(harness.Api(second.base_url), self.counselor.id,
                                  self.counselor.email, "counselor", self.counselor.token)
            before = reader.get(f"/api/v1/chatrooms/{room_id}/messages",
                                consistency=client.consistency)
            self.assertEqual(before.status, 200, before)
            self.assertIn(words["said"], before.text)
            self.assertIn(words["name"], self.dump())

            erased = client.post("/api/v1/me/erase")
            self.assertEqual(erased.status, 200, erased)
            self.assertEqual(erased.body, {"user_id": client.id, "status": "erased"})
            token = erased.header("Consistency-Token")

            # The person is gone: no sign-in, no token, shown as erased.
            self.assertIn(client.get("/api/v1/me").status, (401, 403))
            self.assertEqual(self.api.login(client.email, retry_for=0).status, 401)
            shown = self.admin.get(f"/api/v1/users/{client.id}", consistency=token)
            self.assertEqual(shown.status, 200, shown)
            self.assertEqual(shown.body["status"], "erased")
            self.assertEqual(shown.body["display_name"], "[erased]")
            self.assertIsNone(shown.body["email"])

            # The other process dropped its cached key: the message is unreadable there too.
            def shredded_there():
                after = reader.get(f"/api/v1/chatrooms/{room_id}/messages", consistency=token)
                return after if after.status == 200 and words["said"] not in after.text else None

            after = wait_for(shredded_there, "the erasure to reach the second api process", 5)
            mine = [m for m in after.body["results"] if m["sender_id"] == client.id]
            self.assertTrue(mine and all(m["content"] is None for m in mine), mine)
        finally:
            second.stop()

        # Nothing readable anywhere: the events log, every table, the processes' output.
        events_text = json.dumps(harness.logged_events(self.db))
        dump = self.dump()
        output = "\n".join(self.server.lines + second.lines)
        for label, text in words.items():
            if label == "alias":
                continue
            self.assertNotIn(text, events_text, label)
            self.assertNotIn(text, dump, label)
            self.assertNotIn(text, output, label)
        self.assertNotIn(client.email, dump)
        self.assertNotIn(client.email, events_text)
        self.assertNotIn(client.email, output)

        flags = ["--db", self.db.conninfo, *harness.log_flags()]
        # A replay of the person's events shows their sealed fields as ciphertext only.
        replay = harness.run_counsel(["audit", "replay", *flags, "--subject", client.id])
        self.assertEqual(replay.returncode, 0, replay.stderr)
        replayed = [json.loads(line) for line in replay.stdout.splitlines() if line]
        registered = [e for e in replayed if e["type"] == "account.registered"]
        self.assertTrue(registered[0]["data"]["email"].startswith("enc:v1:"))
        self.assertIn("account.erased", {e["type"] for e in replayed})
        for text in words.values():
            self.assertNotIn(text, replay.stdout)
        # The chain is intact: erasure changed no event.
        verified = harness.run_counsel(["audit", "verify", *flags])
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # Rebuilt read models cannot bring anything back either.
        rebuilt = harness.run_counsel(["projections", "rebuild", *flags], timeout=120)
        self.assertEqual(rebuilt.returncode, 0, rebuilt.stderr)
        dump = self.dump()
        for label, text in words.items():
            self.assertNotIn(text, dump, f"{label} after a rebuild")
        self.assertNotIn(client.email, dump)

    def test_clinical_records_wait_for_an_admin(self):
        client, _ = self.booked_client(15)
        allergy = marker("allergy")
        created = client.post("/api/v1/patients", patient_record("Zanele", allergy))
        self.assertEqual(created.status, 201, created)
        client.consistency = created.header("Consistency-Token")

        requested = client.post("/api/v1/me/erase")
        self.assertEqual(requested.status, 202, requested)
        self.assertEqual(requested.body, {"user_id": client.id, "status": "pending_approval",
                                          "grounds": "clinical_records"})
        # Still an account until an admin decides; asking again changes nothing.
        self.assertEqual(client.get("/api/v1/me").status, 200)
        self.assertEqual(client.post("/api/v1/me/erase").status, 202)
        pending = self.admin.get("/api/v1/admin/erasure-requests",
                                 consistency=requested.header("Consistency-Token"))
        self.assertEqual(pending.status, 200, pending)
        self.assertIn(client.id, [r["user_id"] for r in pending.body["results"]])
        # Only admins decide, and only on pending requests.
        harness.assert_problem(self, client.post(
            f"/api/v1/admin/erasure-requests/{client.id}/approve"), 403)
        harness.assert_problem(self, self.admin.post(
            f"/api/v1/admin/erasure-requests/{self.counselor.id}/approve"), 409,
            "no_erasure_request")

        rejected = self.admin.post(f"/api/v1/admin/erasure-requests/{client.id}/reject")
        self.assertEqual(rejected.status, 200, rejected)
        self.assertEqual(rejected.body["status"], "rejected")
        self.assertEqual(client.post("/api/v1/me/erase").status, 202)
        approved = self.admin.post(f"/api/v1/admin/erasure-requests/{client.id}/approve")
        self.assertEqual(approved.status, 200, approved)
        self.assertEqual(approved.body, {"user_id": client.id, "status": "erased"})
        self.assertIn(client.get("/api/v1/me").status, (401, 403))
        self.assertNotIn(allergy, self.dump())
        record = self.admin.get(f"/api/v1/patients/{created.body['id']}",
                                consistency=approved.header("Consistency-Token"))
        self.assertEqual(record.status, 200, record)
        self.assertIsNone(record.body["allergies_and_medication"])

    def test_staff_are_not_erased_through_the_api(self):
        harness.assert_problem(self, self.admin.post("/api/v1/me/erase"), 403)


if __name__ == "__main__":
    harness.main(time_limit=150)
