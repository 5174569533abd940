"""Notifications (issue 5): every triggering event gives each of its recipients exactly one
notification - a booking request the counsellor, a confirmation, decline, completion the client,
a cancellation the other participant, a review the counsellor, a chat message the other
participant - and still exactly one after the projector is killed (SIGKILL, then a crash in the
middle of a batch) and restarted, and after `counsel projections rebuild notifications`, which
also keeps every read mark. Notifications carry ids and times only, never a topic, a comment, a
message or a name. The list filters unread ones, pages both ways by cursor, and marks one or all
read; someone else's notification is a 404.

The roles run as separate processes (api, processor, projector) so the projector can be killed
and replaced while the api keeps taking commands."""

import collections
import json
import unittest

import harness
from harness import assert_problem

PATH = "/api/v1/notifications"
# What `data` may hold: ids, times, flags and the rating - nothing a person wrote.
DATA_KEYS = {"session_id", "counselor_id", "client_id", "start", "end", "duration_minutes",
             "cancelled_by", "late", "review_id", "rating", "room_id", "message_id", "sender_id",
             "message_type"}
FIELDS = {"id", "kind", "subject_id", "data", "created_at", "read"}
TOPIC = "Panic attacks before every exam"
COMMENT = "She listened without judging me"
MESSAGES = ("I could not sleep again last night", "Let us talk about it on Thursday")
# A killed projector must be replaced and caught up within this (Kafka waits for the dead
# member's session timeout, then rebalances, once per restart).
CATCH_UP_SECONDS = 40 if harness.LOG_ENGINE == "kafka" else 20


def route_exists(method, path):
    """Whether the server registers the route (the review and chat routes came in parallel)."""
    listed = harness.run_counsel(["routes"])
    if listed.returncode != 0:
        raise AssertionError(f"counsel routes failed: {listed.stderr}")
    return any(r["method"] == method and r["path"] == path for r in json.loads(listed.stdout))


def listing(user, consistency=None, **params):
    response = user.get(PATH + "?" + harness.query_string(**params), consistency=consistency)
    if response.status != 200:
        raise AssertionError(f"GET {PATH} failed: {response!r}")
    return response.body


def all_notifications(user, consistency=None):
    """Every notification of `user`, newest first, following the before_id cursor."""
    found = []
    params = {"limit": 100}
    while True:
        body = listing(user, consistency=consistency, **params)
        found.extend(body["results"])
        if not body["has_more"]:
            return found
        params["before_id"] = body["results"][-1]["id"]


class NotificationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("notifications")
        cls.api_process = harness.CounselProcess("api", cls.db)
        harness.CounselProcess("processor", cls.db)
        cls.projector = harness.CounselProcess("projector", cls.db, name="projector-1")
        cls.api = harness.Api(cls.api_process.base_url)

    # --- helpers

    def expect(self, ledger, consistency, timeout=15):
        """Waits until each user's notifications are exactly `ledger[user]` (a Counter of
        (kind, subject_id)), then checks it: none missing, none twice, nothing else."""
        def current(user):
            return collections.Counter((n["kind"], n["subject_id"])
                                       for n in all_notifications(user, consistency))
        try:
            harness.wait_until(lambda: all(current(u) == want for u, want in ledger.items()),
                               timeout=timeout, what="the expected notifications")
        except AssertionError:
            pass  # the assertions below say what differs
        for user, want in ledger.items():
            notifications = all_notifications(user, consistency)
            ids = [n["id"] for n in notifications]
            self.assertEqual(len(ids), len(set(ids)), f"{user.role}: an id listed twice")
            got = collections.Counter((n["kind"], n["subject_id"]) for n in notifications)
            self.assertEqual(got, want, f"{user.role} {user.id}: {notifications}")
            for n in notifications:
                self.assertEqual(set(n), FIELDS, n)
                self.assertLessEqual(set(n["data"]), DATA_KEYS, n)
                harness.parse_time(n["created_at"])

    def assertNoClearText(self, users, secrets):
        for user in users:
            text = json.dumps(all_notifications(user))
            for secret in secrets:
                self.assertNotIn(secret, text, f"{user.role}'s notifications")
        stored = self.db.query("SELECT coalesce(string_agg(data::text, ' '), '')"
                               " FROM read.notifications")
        for secret in secrets:
            self.assertNotIn(secret, stored, "read.notifications.data")

    # --- the tests

    def test_a_notification_per_event_once_across_restarts_and_rebuilds(self):
        api = self.api
        counselor = harness.ready_counselor(api)
        client = api.new_user("client", display_name="Nomvula Xaba-Notify")
        ledger = {counselor: collections.Counter(), client: collections.Counter()}

        def step(actor, path, body=None, consistency=None, expect=200):
            response = actor.post(path, body, consistency=consistency)
            self.assertEqual(response.status, expect, response)
            return response, response.header("Consistency-Token")

        # --- a booking request tells the counsellor, and not the client who made it
        booked, token = step(client, "/api/v1/sessions", {
            "counselor_id": counselor.id, "start": harness.iso(harness.weekday_at(9)),
            "duration_minutes": 60, "topic": TOPIC, "mode": "video"}, expect=201)
        first = booked.body["id"]
        ledger[counselor][("new_booking_request", first)] += 1
        self.expect(ledger, token)
        [request] = listing(counselor, consistency=token)["results"]
        self.assertEqual(request["data"]["session_id"], first)
        self.assertEqual(request["data"]["client_id"], client.id)
        self.assertIs(request["read"], False)

        # --- confirmation and decline tell the client
        _, token = step(counselor, f"/api/v1/sessions/{first}/confirm", consistency=token)
        ledger[client][("session_confirmed", first)] += 1
        declined, token = step(client, "/api/v1/sessions", {
            "counselor_id": counselor.id, "start": harness.iso(harness.weekday_at(11)),
            "duration_minutes": 60, "topic": TOPIC, "mode": "video"}, expect=201)
        second = declined.body["id"]
        ledger[counselor][("new_booking_request", second)] += 1
        _, token = step(counselor, f"/api/v1/sessions/{second}/decline", {"reason": "Full"},
                        consistency=token)
        ledger[client][("session_declined", second)] += 1

        # --- a cancellation tells the other participant, whoever cancels
        for canceller, other, hour in ((client, counselor, 13), (counselor, client, 15)):
            booked, token = step(client, "/api/v1/sessions", {
                "counselor_id": counselor.id, "start": harness.iso(harness.weekday_at(hour)),
                "duration_minutes": 60, "topic": "", "mode": "video"}, expect=201)
            session = booked.body["id"]
            ledger[counselor][("new_booking_request", session)] += 1
            _, token = step(canceller, f"/api/v1/sessions/{session}/cancel",
                            {"reason": "Something came up"}, consistency=token)
            ledger[other][("session_cancelled", session)] += 1
        self.expect(ledger, token)

        # --- chat messages tell the other participant (when the chat routes are there)
        room = None
        if route_exists("POST", "/api/v1/chatrooms"):
            opened, token = step(client, "/api/v1/chatrooms", {"session_id": first},
                                 consistency=token, expect=201)
            room = opened.body["id"]
            for sender, recipient, text in ((client, counselor, MESSAGES[0]),
                                            (counselor, client, MESSAGES[1])):
                _, token = step(sender, f"/api/v1/chatrooms/{room}/messages",
                                {"content": text, "message_type": "text"}, consistency=token,
                                expect=201)
                ledger[recipient][("new_message", room)] += 1
        else:
            print("\nnotifications: POST /api/v1/chatrooms is not registered: new_message "
                  "not tested")

        # --- completion tells the client; a review tells the counsellor
        _, token = step(counselor, f"/api/v1/sessions/{first}/complete", consistency=token)
        ledger[client][("session_completed", first)] += 1
        if route_exists("POST", "/api/v1/counselors/{id}/reviews"):
            reviewed, token = step(client, f"/api/v1/counselors/{counselor.id}/reviews",
                                   {"session_id": first, "rating": 5, "comment": COMMENT},
                                   consistency=token, expect=201)
            ledger[counselor][("new_review", reviewed.body["id"])] += 1
        else:
            print("\nnotifications: POST /api/v1/counselors/{id}/reviews is not registered: "
                  "new_review not tested")
        self.expect(ledger, token)
        self.assertNoClearText((client, counselor), (TOPIC, COMMENT, *MESSAGES,
                                                     "Nomvula", client.email, counselor.email))

        # --- the projector dies (SIGKILL) while events keep coming
        self.projector.kill()
        for hour in (10, 14):
            booked, token = step(client, "/api/v1/sessions", {
                "counselor_id": counselor.id,
                "start": harness.iso(harness.weekday_at(hour, nth=1)),
                "duration_minutes": 60, "topic": TOPIC, "mode": "video"}, expect=201)
            ledger[counselor][("new_booking_request", booked.body["id"])] += 1
        if room:
            _, token = step(client, f"/api/v1/chatrooms/{room}/messages",
                            {"content": MESSAGES[0], "message_type": "text"}, consistency=token,
                            expect=201)
            ledger[counselor][("new_message", room)] += 1

        # A replacement crashes half-way through its first batch (its transaction rolls
        # back); if its batches happen to hold one event each, it is killed instead.
        try:
            faulty = harness.CounselProcess("projector", self.db, name="projector-faulty",
                                            env={"COUNSEL_FAULT": "projector_crash_mid_batch"})
            if faulty.wait_exit(timeout=CATCH_UP_SECONDS) is None:
                faulty.kill()
        except RuntimeError as error:  # it crashed while the harness still watched it start
            self.assertIn("exited with 86", str(error))
        type(self).projector = harness.CounselProcess("projector", self.db, name="projector-2")
        self.expect(ledger, token, timeout=CATCH_UP_SECONDS)

        # --- read marks and the notifications themselves survive a rebuild
        some = all_notifications(client, token)[-1]
        read, _ = step(client, f"{PATH}/{some['id']}/read", consistency=token, expect=204)
        before = {u: sorted(all_notifications(u, token), key=lambda n: n["id"]) for u in ledger}
        self.assertTrue(any(n["read"] for n in before[client]))
        total = sum(sum(c.values()) for c in ledger.values())
        ours = f"('{client.id}', '{counselor.id}')"
        count_ours = ("SELECT count(*) FROM read.notifications WHERE recipient_id IN " + ours)
        self.assertEqual(int(self.db.query(count_ours)), total)
        self.assertEqual(self.db.query(
            "SELECT count(*) FROM read.notifications WHERE recipient_id NOT IN " + ours +
            f" AND (data->>'counselor_id' = '{counselor.id}'"
            f" OR data->>'sender_id' IN {ours})").strip(), "0", "nobody else was notified")

        rebuilt = harness.run_counsel(["projections", "rebuild", "notifications",
                                       *harness.common_flags(self.db)], timeout=120)
        self.assertEqual(rebuilt.returncode, 0, rebuilt.stderr)
        after = {u: sorted(all_notifications(u, token), key=lambda n: n["id"]) for u in ledger}
        self.assertEqual(after, before, "the rebuild recreated the same notifications")
        self.expect(ledger, token)
        self.assertEqual(int(self.db.query(count_ours)), total)

        # --- each one was delivered in-app once (relayed or served), with one attempt
        def recorded():
            return self.db.query(
                "SELECT count(*) FROM read.notifications n WHERE recipient_id IN " + ours +
                " AND NOT EXISTS (SELECT 1 FROM notify.outbox o"
                " WHERE o.id = n.notification_id)").strip() == "0"
        harness.wait_until(recorded, timeout=10, what="in-app deliveries recorded")
        deliveries = self.db.query(
            "SELECT count(*) || ' ' || count(DISTINCT o.id) || ' ' || bool_and(a.ok)"
            " FROM notify.outbox o JOIN notify.delivery_attempts a ON a.outbox_id = o.id"
            " WHERE o.channel = 'in_app' AND o.user_id IN " + ours).split()
        self.assertEqual(deliveries, [str(total), str(total), "true"])
        self.assertNoClearText((client, counselor), (TOPIC, COMMENT, *MESSAGES, "Nomvula"))

    def test_reading_and_marking(self):
        api = self.api
        counselor = harness.ready_counselor(api)
        client = api.new_user("client")
        token = None
        for hour in (9, 11, 13):
            booked = harness.book(client, counselor.id, harness.weekday_at(hour, nth=2))
            self.assertEqual(booked.status, 201, booked)
            token = booked.header("Consistency-Token")
        harness.wait_until(lambda: len(listing(counselor, consistency=token)["results"]) == 3,
                           timeout=15, what="three booking requests")

        # newest first, all unread; pages both ways
        body = listing(counselor)
        newest_first = body["results"]
        self.assertEqual(body["unread_count"], 3)
        self.assertFalse(body["has_more"])
        times = [harness.parse_time(n["created_at"]) for n in newest_first]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual([n["read"] for n in newest_first], [False] * 3)
        ids = [n["id"] for n in newest_first]
        page = listing(counselor, limit=2)
        self.assertEqual([n["id"] for n in page["results"]], ids[:2])
        self.assertTrue(page["has_more"])
        older = listing(counselor, limit=2, before_id=ids[1])
        self.assertEqual([n["id"] for n in older["results"]], ids[2:])
        self.assertFalse(older["has_more"])
        # a polling client asks for what came after the newest it has
        newer = listing(counselor, after_id=ids[2])
        self.assertEqual([n["id"] for n in newer["results"]], ids[:2])
        self.assertFalse(newer["has_more"])
        first_poll = listing(counselor, after_id=ids[2], limit=1)
        self.assertEqual([n["id"] for n in first_poll["results"]], [ids[1]],
                         "after a cursor, the page starts right after it")
        self.assertTrue(first_poll["has_more"])
        self.assertEqual(listing(counselor, after_id=ids[0])["results"], [])

        # mark one read (twice: still fine), then the unread filter leaves it out
        for _ in range(2):
            response = counselor.post(f"{PATH}/{ids[1]}/read")
            self.assertEqual(response.status, 204, response)
        unread = listing(counselor, unread="true")
        self.assertEqual([n["id"] for n in unread["results"]], [ids[0], ids[2]])
        self.assertEqual(unread["unread_count"], 2)
        self.assertEqual([n["read"] for n in listing(counselor)["results"]], [False, True, False])
        self.assertEqual(len(listing(counselor, unread="false")["results"]), 3)

        # someone else's notification, or none at all, is not found
        for stranger_id in (ids[0], "0190a1b2-0000-7000-8000-000000000001", "not-a-uuid"):
            assert_problem(self, client.post(f"{PATH}/{stranger_id}/read"), 404,
                           "notification_not_found")
        self.assertEqual(listing(counselor, unread="true")["unread_count"], 2,
                         "a stranger marked nothing")

        # read-all; a later notification arrives unread
        response = counselor.post(f"{PATH}/read-all")
        self.assertEqual(response.status, 204, response)
        self.assertEqual(listing(counselor, unread="true"),
                         {"results": [], "has_more": False, "unread_count": 0})
        booked = harness.book(client, counselor.id, harness.weekday_at(15, nth=2))
        self.assertEqual(booked.status, 201, booked)
        # Before anyone lists it, the api's relay records its in-app delivery (the projection
        # announced it).
        harness.wait_until(lambda: self.db.query(
            "SELECT count(*) FROM read.notifications n JOIN notify.outbox o"
            " ON o.id = n.notification_id AND o.channel = 'in_app' AND o.delivered_at IS NOT NULL"
            f" WHERE n.data->>'session_id' = '{booked.body['id']}'").strip() == "1",
            timeout=15, what="the relay's record of the new notification")
        later = listing(counselor, consistency=booked.header("Consistency-Token"), unread="true")
        self.assertEqual([n["data"]["session_id"] for n in later["results"]], [booked.body["id"]])
        self.assertEqual(later["unread_count"], 1)

        # bad parameters are 400s; staff have (empty) notifications too
        for query in ("unread=maybe", "limit=0", "limit=101", "after_id=nope",
                      f"after_id={ids[0]}&before_id={ids[1]}"):
            assert_problem(self, counselor.get(f"{PATH}?{query}"), 400, "invalid_parameter")
        assert_problem(self, client.get(f"{PATH}?after_id={ids[0]}"), 400, "invalid_parameter")
        self.assertEqual(listing(api.admin())["results"], [])
        assert_problem(self, api.get(PATH), 401)


if __name__ == "__main__":
    harness.main(time_limit=150)
