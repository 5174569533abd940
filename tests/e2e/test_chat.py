"""Chat rooms over REST (issue 5): one room per client-counsellor pair, opened from a booking or
by naming the other person (a client only with a counsellor they booked); messages both ways,
newest-first pages with a before-cursor; unread counts and read marks; an outsider - another
client, another counsellor, a compliance officer, an admin - cannot join a room or read its
history (404 on every room route); message text is unreadable in the events log and the
database without the sender's subject key; an anonymous client appears under their alias only."""

import hashlib
import json
import subprocess
import unittest
import uuid

import harness
from harness import assert_problem

ROOM_FIELDS = {"id", "participants", "session_id", "last_message", "unread_count", "created_at"}
MESSAGE_FIELDS = {"id", "room_id", "sender_id", "sender_name", "content", "message_type",
                  "sent_at"}


def marker(label):
    """Text unlikely to appear anywhere by chance, to search the log and the database for."""
    return f"{label}-{uuid.uuid4().hex}"


def expected_room_id(a, b):
    """The api's uuid_from_text("room|<lower id>|<higher id>"): SHA-256, version 8."""
    low, high = sorted((a, b))
    digest = bytearray(hashlib.sha256(f"room|{low}|{high}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


class ChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("chat")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        cls.counselor = harness.ready_counselor(cls.api)
        # Hour-long bookings two hours apart never meet the counsellor's buffer.
        cls.slots = iter([(day, hour) for day in range(4) for hour in (9, 11, 13, 15)])

    # --- helpers

    def booked_client(self, counselor=None, display_name=None):
        """A client with a booking with `counselor` (the class's by default); both have read it."""
        counselor = counselor or self.counselor
        client = self.api.new_user("client", display_name=display_name)
        day, hour = next(self.slots)
        booked = harness.book(client, counselor.id, harness.weekday_at(hour, nth=day))
        self.assertEqual(booked.status, 201, booked)
        counselor.consistency = booked.header("Consistency-Token")
        return client, booked.body["id"]

    def open_room(self, user, expect=201, **body):
        response = user.post("/api/v1/chatrooms", body)
        self.assertEqual(response.status, expect, response)
        self.assertEqual(set(response.body), ROOM_FIELDS, response)
        return response.body

    def send(self, user, room_id, content, expect=201, **kwargs):
        response = user.post(f"/api/v1/chatrooms/{room_id}/messages",
                             {"content": content, "message_type": "text"}, **kwargs)
        self.assertEqual(response.status, expect, response)
        return response

    def messages(self, user, room_id, **params):
        query = harness.query_string(**params)
        return user.get(f"/api/v1/chatrooms/{room_id}/messages" + ("?" + query if query else ""))

    def room_listed(self, user, room_id):
        response = user.get("/api/v1/chatrooms")
        self.assertEqual(response.status, 200, response)
        found = [room for room in response.body["results"] if room["id"] == room_id]
        return found[0] if found else None

    # --- opening rooms

    def test_one_room_per_pair_from_a_booking_or_by_name(self):
        client, session_id = self.booked_client(display_name="Sipho Dlamini")
        room = self.open_room(client, session_id=session_id)
        self.assertEqual(room["id"], expected_room_id(client.id, self.counselor.id))
        self.assertEqual(room["session_id"], session_id)
        self.assertEqual(room["participants"], [
            {"id": client.id, "role": "client", "display_name": "Sipho Dlamini"},
            {"id": self.counselor.id, "role": "counselor", "display_name": "Test Counselor"}])
        self.assertIsNone(room["last_message"])
        self.assertEqual(room["unread_count"], 0)
        harness.parse_time(room["created_at"])

        # The same pair, however it is asked for, is the same room: 200 from now on.
        again = self.open_room(self.counselor, expect=200, session_id=session_id)
        self.assertEqual(again["id"], room["id"])
        by_name = self.open_room(self.counselor, expect=200, participant_id=client.id)
        self.assertEqual(by_name["id"], room["id"])
        self.assertEqual(self.open_room(client, expect=200, participant_id=self.counselor.id)["id"],
                         room["id"])
        self.assertIsNotNone(self.room_listed(client, room["id"]))
        self.assertIsNotNone(self.room_listed(self.counselor, room["id"]))
        opened = [e for e in harness.logged_events(self.db)
                  if e["type"] == "room.opened" and e["data"]["room_id"] == room["id"]]
        self.assertEqual(len(opened), 1, "one room.opened however often the room is asked for")
        self.assertEqual(opened[0]["stream"], "room-" + room["id"])
        self.assertEqual(opened[0]["data"], {"room_id": room["id"], "client_id": client.id,
                                             "counselor_id": self.counselor.id,
                                             "session_id": session_id})

    def test_who_may_open_a_room_with_whom(self):
        stranger = self.api.new_user("client")
        problem = assert_problem(self, stranger.post("/api/v1/chatrooms",
                                                     {"participant_id": self.counselor.id}),
                                 422, "no_booking")
        self.assertIn("booked", problem["detail"])
        other_client = self.api.new_user("client")
        assert_problem(self, stranger.post("/api/v1/chatrooms",
                                           {"participant_id": other_client.id},
                                           consistency=other_client.consistency),
                       422, "invalid_participant")
        other_counselor = harness.ready_counselor(self.api)
        assert_problem(self, self.counselor.post("/api/v1/chatrooms",
                                                 {"participant_id": other_counselor.id},
                                                 consistency=other_counselor.consistency),
                       422, "invalid_participant")
        assert_problem(self, stranger.post("/api/v1/chatrooms", {"participant_id": stranger.id}),
                       422, "cannot_chat_with_yourself")
        for unknown in (str(uuid.uuid4()), "not-a-uuid", 42):
            assert_problem(self, stranger.post("/api/v1/chatrooms", {"participant_id": unknown}),
                           404, "user_not_found")
            assert_problem(self, stranger.post("/api/v1/chatrooms", {"session_id": unknown}),
                           404, "session_not_found")
        # Someone else's booking names no room of the caller's.
        _, session_id = self.booked_client()
        assert_problem(self, stranger.post("/api/v1/chatrooms", {"session_id": session_id}),
                       404, "session_not_found")
        assert_problem(self, other_counselor.post("/api/v1/chatrooms", {"session_id": session_id},
                                                  consistency=self.counselor.consistency),
                       404, "session_not_found")
        for body in ({}, {"participant_id": self.counselor.id, "session_id": session_id}):
            problem = assert_problem(self, stranger.post("/api/v1/chatrooms", body), 400,
                                     "validation_failed")
            self.assertIn(problem["field"], ("participant_id", "session_id"))
        assert_problem(self, stranger.post("/api/v1/chatrooms", raw=b"[]"), 400, "invalid_json")

        # A counsellor may reach out to any client: a counsellor-initiated room.
        reached = self.open_room(self.counselor, participant_id=stranger.id,
                                 consistency=stranger.consistency)
        self.assertIsNone(reached["session_id"])
        self.assertEqual(reached["id"], expected_room_id(stranger.id, self.counselor.id))
        # ... which the client then finds under the same pair.
        self.assertEqual(self.open_room(stranger, expect=200,
                                        participant_id=self.counselor.id)["id"], reached["id"])

        # Staff take part in no room.
        for staff in (self.api.admin(), harness.create_compliance(self.api)):
            assert_problem(self, staff.post("/api/v1/chatrooms",
                                            {"participant_id": stranger.id}), 403, "forbidden")
            assert_problem(self, staff.get("/api/v1/chatrooms"), 403, "forbidden")

    # --- messages

    def test_messages_both_ways_in_newest_first_pages(self):
        client, session_id = self.booked_client(display_name="Ayanda Mokoena")
        room_id = self.open_room(client, session_id=session_id)["id"]
        sent = []
        for n in range(7):
            author = client if n % 2 == 0 else self.counselor
            response = self.send(author, room_id, f"  message {n} \n",
                                 consistency=(client if author is self.counselor
                                              else self.counselor).consistency)
            body = response.body
            self.assertEqual(set(body), MESSAGE_FIELDS, response)
            self.assertEqual(body["content"], f"message {n}", "content is trimmed")
            self.assertEqual(body["room_id"], room_id)
            self.assertEqual(body["sender_id"], author.id)
            self.assertEqual(body["sender_name"],
                             "Ayanda Mokoena" if author is client else "Test Counselor")
            self.assertEqual(body["message_type"], "text")
            harness.parse_time(body["sent_at"])
            self.assertTrue(response.header("Consistency-Token"))
            sent.append(body)

        # Pages of 3, newest first, following the cursor to the oldest.
        seen, before, pages = [], None, 0
        while True:
            page = self.messages(self.counselor, room_id, limit=3, before=before)
            self.assertEqual(page.status, 200, page)
            self.assertLessEqual(len(page.body["results"]), 3)
            seen.extend(page.body["results"])
            pages += 1
            before = page.body["next_before"]
            if before is None:
                break
            self.assertEqual(before, page.body["results"][-1]["id"])
        self.assertEqual(pages, 3)
        self.assertEqual(seen, list(reversed(sent)))
        # Both participants read the same history; 50 by default.
        whole = self.messages(client, room_id)
        self.assertEqual(whole.body, {"results": list(reversed(sent)), "next_before": None})
        self.assertEqual(self.messages(client, room_id, limit=100).body["results"],
                         whole.body["results"])
        self.assertEqual(self.messages(client, room_id, before=sent[1]["id"]).body["results"],
                         [sent[0]])

        for bad in ({"limit": 0}, {"limit": 101}, {"limit": "ten"},
                    {"before": str(uuid.uuid4())}, {"before": "nope"}):
            assert_problem(self, self.messages(client, room_id, **bad), 400, "invalid_parameter")

        # The room list shows the latest message.
        listed = self.room_listed(client, room_id)
        self.assertEqual(listed["last_message"], sent[-1])

    def test_message_rules(self):
        client, session_id = self.booked_client()
        room_id = self.open_room(client, session_id=session_id)["id"]
        path = f"/api/v1/chatrooms/{room_id}/messages"
        cases = [
            ({"content": ""}, "content"),
            ({"content": " \n\t "}, "content"),
            ({"content": "x" * 4001}, "content"),
            ({"content": "nul \u0000 inside"}, "content"),
            ({"content": 12}, "content"),
            ({"message_type": "text"}, "content"),
            ({"content": "hi", "message_type": "image"}, "message_type"),
            ({"content": "hi", "message_type": 1}, "message_type"),
        ]
        for body, field in cases:
            with self.subTest(body=repr(body)[:60]):
                problem = assert_problem(self, client.post(path, body), 400, "validation_failed")
                self.assertEqual(problem["field"], field)
        assert_problem(self, client.post(path, raw=b"not json"), 400, "invalid_json")
        # Invalid UTF-8 never reaches the log.
        assert_problem(self, client.post(path, raw=b'{"content": "bad \xff\xfe bytes"}'), 400)

        # The limits are accepted: 4000 characters, even of four UTF-8 bytes each; the type
        # defaults to text.
        longest = "\U0001F600" * 4000
        self.assertEqual(self.send(client, room_id, longest).body["content"], longest)
        plain = client.post(path, {"content": "no type given"})
        self.assertEqual(plain.status, 201, plain)
        self.assertEqual(plain.body["message_type"], "text")

        # A retried request (same Idempotency-Key) is the same message, stored once.
        key = str(uuid.uuid4())
        first = self.send(client, room_id, "once only", headers={"Idempotency-Key": key})
        retry = self.send(client, room_id, "once only", headers={"Idempotency-Key": key})
        self.assertEqual(retry.body, first.body)
        contents = [m["content"] for m in self.messages(client, room_id).body["results"]]
        self.assertEqual(contents.count("once only"), 1)
        self.assertEqual(contents[0], "once only")

    def test_unread_counts_and_read_marks(self):
        client, session_id = self.booked_client()
        room_id = self.open_room(client, session_id=session_id)["id"]
        from_client = [self.send(client, room_id, f"client says {n}").body for n in range(3)]
        self.counselor.consistency = client.consistency
        self.assertEqual(self.room_listed(self.counselor, room_id)["unread_count"], 3)
        # One's own messages are never unread.
        self.assertEqual(self.room_listed(client, room_id)["unread_count"], 0)

        read_path = f"/api/v1/chatrooms/{room_id}/read"
        marked = self.counselor.post(read_path, {"up_to": from_client[1]["id"]})
        self.assertEqual(marked.status, 200, marked)
        self.assertEqual(marked.body, {"room_id": room_id, "up_to": from_client[1]["id"],
                                       "unread_count": 1})
        self.assertEqual(self.room_listed(self.counselor, room_id)["unread_count"], 1)
        # A marker never moves back.
        older = self.counselor.post(read_path, {"up_to": from_client[0]["id"]})
        self.assertEqual(older.status, 200, older)
        self.assertEqual(older.body["up_to"], from_client[1]["id"])
        latest = self.counselor.post(read_path, {"up_to": from_client[2]["id"]})
        self.assertEqual(latest.body, {"room_id": room_id, "up_to": from_client[2]["id"],
                                       "unread_count": 0})
        reads = [e for e in harness.logged_events(self.db)
                 if e["type"] == "chat.messages_read" and e["data"]["room_id"] == room_id]
        self.assertEqual([e["data"]["up_to"] for e in reads],
                         [from_client[1]["id"], from_client[2]["id"]])

        reply = self.send(self.counselor, room_id, "counsellor replies").body
        client.consistency = self.counselor.consistency
        self.assertEqual(self.room_listed(client, room_id)["unread_count"], 1)
        self.assertEqual(self.room_listed(client, room_id)["last_message"], reply)

        assert_problem(self, client.post(read_path, {"up_to": str(uuid.uuid4())}), 422,
                       "unknown_message")
        for body in ({}, {"up_to": "latest"}, {"up_to": 7}):
            problem = assert_problem(self, client.post(read_path, body), 400, "validation_failed")
            self.assertEqual(problem["field"], "up_to")

    # --- outsiders

    def test_an_outsider_cannot_join_a_room_or_read_its_history(self):
        client, session_id = self.booked_client()
        room_id = self.open_room(client, session_id=session_id)["id"]
        first = self.send(client, room_id, "for my counsellor only").body

        outsiders = {
            "another client": self.api.new_user("client"),
            "another counsellor": harness.ready_counselor(self.api),
            "compliance": harness.create_compliance(self.api),
            "admin": self.api.admin(),
        }
        routes = [("GET", f"/api/v1/chatrooms/{room_id}/messages", None),
                  ("GET", f"/api/v1/chatrooms/{room_id}/messages?limit=5&before={first['id']}",
                   None),
                  ("POST", f"/api/v1/chatrooms/{room_id}/messages",
                   {"content": "let me in", "message_type": "text"}),
                  ("POST", f"/api/v1/chatrooms/{room_id}/messages", {}),
                  ("POST", f"/api/v1/chatrooms/{room_id}/read", {"up_to": first["id"]})]
        for name, outsider in outsiders.items():
            for method, path, body in routes:
                with self.subTest(outsider=name, method=method, path=path, body=body):
                    response = outsider.call(method, path, body=body,
                                             consistency=client.consistency)
                    assert_problem(self, response, 404, "room_not_found")
                    self.assertNotIn("for my counsellor only", response.text)
                    self.assertNotIn(client.id, response.text)
        for name in ("another client", "another counsellor"):
            self.assertIsNone(self.room_listed(outsiders[name], room_id))
        # Unknown and malformed room ids answer exactly the same.
        for path_id in (str(uuid.uuid4()), "not-a-room"):
            assert_problem(self, client.get(f"/api/v1/chatrooms/{path_id}/messages"), 404,
                           "room_not_found")
        # Nothing an outsider tried reached the log.
        events = [e for e in harness.logged_events(self.db) if e["stream"] == "room-" + room_id]
        self.assertEqual([e["type"] for e in events], ["room.opened", "chat.message_sent"])
        self.assertEqual(self.messages(client, room_id).body["results"], [first])

    # --- encryption at rest and anonymity

    def test_messages_are_unreadable_in_the_log_and_the_database_without_the_key(self):
        client, session_id = self.booked_client()
        room_id = self.open_room(client, session_id=session_id)["id"]
        secret = marker("I have not slept in days")
        reply_secret = marker("Let us talk about sleep")
        mine = self.send(client, room_id, secret).body
        self.counselor.consistency = client.consistency
        self.send(self.counselor, room_id, reply_secret)
        self.assertEqual(self.messages(client, room_id).body["results"][1]["content"], secret)

        events = harness.logged_events(self.db)
        sent = [e for e in events
                if e["type"] == "chat.message_sent" and e["data"]["room_id"] == room_id]
        self.assertEqual(len(sent), 2)
        for event in sent:
            self.assertTrue(event["data"]["content"].startswith("enc:v1:"), event)
        log_text = json.dumps(events)
        for text in (secret, reply_secret):
            self.assertNotIn(text, log_text)
            self.assertNotIn(text.split("-")[0], log_text)

        stored = self.db.query("SELECT content_enc FROM read.chat_messages"
                               f" WHERE room_id = '{room_id}'").split()
        self.assertEqual(len(stored), 2)
        self.assertTrue(all(value.startswith("enc:v1:") for value in stored), stored)
        # The whole database, read models, log tables and all: no clear text anywhere.
        dump = subprocess.run(
            ["pg_dump", "--data-only", "-h", harness.PG_HOST, "-p", harness.PG_PORT,
             "-U", "counsel", "-d", self.db.name],
            capture_output=True, text=True, timeout=60, check=True).stdout
        self.assertIn(room_id, dump)
        for text in (secret, reply_secret):
            self.assertNotIn(text, dump)
            self.assertNotIn(text.split("-")[0], dump)

        # Without the sender's key (erased) the text is gone for good; the rest of the message
        # stays. A fresh api process has no cached copy of the key.
        self.db.query(f"DELETE FROM identity.subject_keys WHERE subject = '{client.id}'")
        fresh = harness.CounselProcess("api", self.db, name="fresh-api")
        try:
            reader = harness.User(harness.Api(fresh.base_url), self.counselor.id,
                                  self.counselor.email, "counselor", self.counselor.token)
            history = self.messages(reader, room_id)
            self.assertEqual(history.status, 200, history)
            erased, kept = history.body["results"][1], history.body["results"][0]
            self.assertEqual(erased["id"], mine["id"])
            self.assertIsNone(erased["content"])
            self.assertIs(erased["erased"], True)
            self.assertEqual(kept["content"], reply_secret)
            self.assertNotIn("erased", kept)
            self.assertNotIn(secret, history.text)
        finally:
            fresh.stop()

    def test_an_anonymous_client_appears_under_their_alias(self):
        real_name = marker("Nomvula Real Name")
        client, session_id = self.booked_client(display_name=real_name)
        anonymous = client.put(f"/api/v1/clients/{client.id}",
                               {"anonymous": True, "alias": "River"})
        self.assertEqual(anonymous.status, 200, anonymous)
        room = self.open_room(client, session_id=session_id)
        self.assertEqual(room["participants"][0],
                         {"id": client.id, "role": "client", "display_name": "River"})
        sent = self.send(client, room["id"], "It is River here")
        self.assertEqual(sent.body["sender_name"], "River")

        self.counselor.consistency = client.consistency
        seen = []
        for response in (self.counselor.get("/api/v1/chatrooms"),
                         self.messages(self.counselor, room["id"]),
                         self.counselor.post("/api/v1/chatrooms",
                                             {"participant_id": client.id})):
            self.assertEqual(response.status, 200, response)
            self.assertNotIn(real_name, response.text)
            seen.append(response.body)
        listed = [r for r in seen[0]["results"] if r["id"] == room["id"]][0]
        self.assertEqual(listed["participants"][0]["display_name"], "River")
        self.assertEqual(listed["last_message"]["sender_name"], "River")
        self.assertEqual(seen[1]["results"][0]["sender_name"], "River")
        self.assertEqual(seen[2]["participants"][0]["display_name"], "River")
        reply = self.send(self.counselor, room["id"], "Hello River")
        self.assertEqual(reply.body["sender_name"], "Test Counselor")


if __name__ == "__main__":
    harness.main(time_limit=180)
