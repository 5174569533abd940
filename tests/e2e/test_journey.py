"""A newcomer's journey over HTTP: a counsellor sets up, a client finds and books them, the
counsellor confirms, the client cancels."""

import datetime as dt
import json
import unittest
import uuid

import harness
from harness import JOHANNESBURG, assert_problem, iso, parse_time, results_of


class JourneyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("journey")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def test_newcomer_journey(self):
        api = self.api

        # --- two people register; the response never echoes a password or its hash
        counselor_email = harness.unique_email("counselor")
        registered = api.register(email=counselor_email, role="counselor",
                                  display_name="Thandi Mokoena")
        self.assertEqual(registered.status, 201, registered)
        self.assertEqual(registered.body["email"], counselor_email)
        self.assertEqual(registered.body["role"], "counselor")
        self.assertEqual(registered.body["display_name"], "Thandi Mokoena")
        self.assertTrue(registered.body["id"])
        self.assertNotIn("password", registered.text.lower())
        counselor_id = registered.body["id"]

        logged_in = api.login(counselor_email,
                              consistency=registered.header("Consistency-Token"))
        self.assertEqual(logged_in.status, 200, logged_in)
        self.assertEqual(logged_in.body["token_type"], "Bearer")
        self.assertGreater(logged_in.body["expires_in"], 0)
        self.assertEqual(logged_in.body["user"]["id"], counselor_id)
        self.assertNotIn("password", logged_in.text.lower())
        counselor = harness.User(api, counselor_id, counselor_email, "counselor",
                                 logged_in.body["access_token"])
        counselor.consistency = registered.header("Consistency-Token")

        client = api.new_user("client", display_name="Sipho Dlamini")

        # --- the counsellor describes themself and opens their calendar
        profile = counselor.put(f"/api/v1/counselors/{counselor_id}/profile", {
            "specialties": ["anxiety", "depression"], "languages": ["en", "zu"],
            "level": "senior",
            "bio": "Cognitive behavioural therapy for anxiety and low mood."})
        self.assertEqual(profile.status, 200, profile)
        self.assertTrue(profile.header("Consistency-Token"), "commands return a Consistency-Token")

        monday = harness.next_week_monday()
        closed_wednesday = monday + dt.timedelta(days=2)
        availability = counselor.put(f"/api/v1/counselors/{counselor_id}/availability", {
            "time_zone": "Africa/Johannesburg",
            "weekly": [{"day": day, "start": "09:00", "end": "17:00"}
                       for day in ("mon", "tue", "wed", "thu", "fri")],
            "buffer_minutes": 15,
            "min_notice_minutes": 60,
            "overrides": [{"date": closed_wednesday.isoformat(), "unavailable": True}]})
        self.assertEqual(availability.status, 200, availability)
        counselor_token = availability.header("Consistency-Token")
        self.assertTrue(counselor_token)

        # --- not listed until an admin verifies them
        unlisted = client.get("/api/v1/counselors?language=zu&specialty=anxiety&per_page=100",
                              consistency=counselor_token)
        self.assertEqual(unlisted.status, 200, unlisted)
        self.assertNotIn(counselor_id, [c["id"] for c in unlisted.body["results"]])
        verified = api.verify(counselor)
        self.assertEqual(verified.body["verified"], True, verified)
        counselor_token = verified.header("Consistency-Token")
        self.assertTrue(counselor_token)

        # --- the client finds them by language and specialty
        found = client.get("/api/v1/counselors?language=zu&specialty=anxiety&page=1&per_page=10",
                           consistency=counselor_token)
        self.assertEqual(found.status, 200, found)
        for field in ("results", "total", "page", "per_page", "total_pages", "has_next",
                      "has_previous"):
            self.assertIn(field, found.body)
        self.assertEqual(found.body["page"], 1)
        self.assertEqual(found.body["per_page"], 10)
        self.assertEqual(found.body["total"], 1)
        self.assertEqual(found.body["total_pages"], 1)
        self.assertFalse(found.body["has_next"])
        self.assertFalse(found.body["has_previous"])
        [listed] = found.body["results"]
        self.assertEqual(listed["id"], counselor_id)
        self.assertIn("zu", listed["languages"])
        self.assertIn("anxiety", listed["specialties"])

        # filters really filter
        for query in ("language=fr", "specialty=grief", "language=zu&specialty=grief"):
            other = client.get(f"/api/v1/counselors?{query}", consistency=counselor_token)
            self.assertEqual(other.status, 200, other)
            self.assertEqual(other.body["total"], 0, f"{query}: {other!r}")
            self.assertEqual(other.body["results"], [])

        detail = client.get(f"/api/v1/counselors/{counselor_id}", consistency=counselor_token)
        self.assertEqual(detail.status, 200, detail)
        self.assertEqual(detail.body["id"], counselor_id)
        self.assertEqual(sorted(detail.body["specialties"]), ["anxiety", "depression"])
        self.assertEqual(sorted(detail.body["languages"]), ["en", "zu"])
        self.assertEqual(detail.body["level"], "senior")
        self.assertEqual(detail.body["bio"],
                         "Cognitive behavioural therapy for anxiety and low mood.")

        # --- free slots next week (local Monday 00:00 to Saturday 00:00)
        week_start = harness.local_datetime(monday, 0)
        week_end = week_start + dt.timedelta(days=5)
        slots_path = (f"/api/v1/counselors/{counselor_id}/slots?"
                      + harness.query_string(**{"from": iso(week_start), "to": iso(week_end),
                                                "duration_minutes": 60}))
        slots = client.get(slots_path, consistency=counselor_token)
        self.assertEqual(slots.status, 200, slots)
        free = [(parse_time(s["start"]), parse_time(s["end"])) for s in slots.body["slots"]]
        self.assertTrue(free, "a counsellor open mon-fri has free slots next week")
        for start, end in free:
            self.assertEqual(end - start, dt.timedelta(minutes=60))
            local_start, local_end = start.astimezone(JOHANNESBURG), end.astimezone(JOHANNESBURG)
            self.assertLess(local_start.weekday(), 5, f"slot on a weekend: {start}")
            self.assertNotEqual(local_start.date(), closed_wednesday,
                                "the unavailable override removes that day's slots")
            self.assertGreaterEqual(local_start.time(), dt.time(9, 0))
            self.assertLessEqual((local_end - dt.timedelta(seconds=1)).time(), dt.time(17, 0))
            self.assertEqual(local_start.date(), local_end.date())
        self.assertIn(harness.local_datetime(monday + dt.timedelta(days=3), 9),
                      [start for start, _ in free], "Thursday 09:00 local is free")

        # book one more than 24 h ahead, so cancelling later is not late
        start, end = next((s, e) for s, e in free
                          if s > harness.now_utc() + dt.timedelta(hours=30))
        booked = client.post("/api/v1/sessions", {
            "counselor_id": counselor_id, "start": iso(start), "duration_minutes": 60,
            "topic": "Exam stress", "mode": "video"})
        self.assertEqual(booked.status, 201, booked)
        token = booked.header("Consistency-Token")
        self.assertTrue(token, "a booking returns a Consistency-Token")
        session = booked.body
        self.assertEqual(session["status"], "requested")
        self.assertEqual(session["counselor_id"], counselor_id)
        self.assertEqual(session["client_id"], client.id)
        self.assertEqual(parse_time(session["start"]), start)
        self.assertEqual(parse_time(session["end"]), end)
        self.assertEqual(session["duration_minutes"], 60)
        self.assertEqual(session["mode"], "video")
        session_id = session["id"]

        # read your own write, with the token
        read_back = client.get(f"/api/v1/sessions/{session_id}", consistency=token)
        self.assertEqual(read_back.status, 200, read_back)
        self.assertEqual(read_back.body["id"], session_id)
        self.assertEqual(read_back.body["status"], "requested")
        self.assertEqual(read_back.body["topic"], "Exam stress")
        # the booking's answer is the session as the read model has it (served from the row
        # the process's projector just inserted, not read again): the same object
        self.assertEqual(booked.body, read_back.body)

        # the slot is gone; its neighbours within the buffer are gone too
        slots_after = client.get(slots_path, consistency=token)
        self.assertEqual(slots_after.status, 200, slots_after)
        starts_after = [parse_time(s["start"]) for s in slots_after.body["slots"]]
        self.assertNotIn(start, starts_after)
        for other in starts_after:
            other_end = other + dt.timedelta(minutes=60)
            self.assertFalse(other < end + dt.timedelta(minutes=15)
                             and start - dt.timedelta(minutes=15) < other_end,
                             f"slot {other} overlaps the booked session plus its buffer")

        # the counsellor sees it too and confirms
        counselor_view = counselor.get(f"/api/v1/sessions/{session_id}", consistency=token)
        self.assertEqual(counselor_view.status, 200, counselor_view)
        confirmed = counselor.post(f"/api/v1/sessions/{session_id}/confirm")
        self.assertEqual(confirmed.status, 200, confirmed)
        self.assertEqual(confirmed.body["status"], "confirmed")
        confirmed_token = confirmed.header("Consistency-Token")
        self.assertTrue(confirmed_token)
        as_client = client.get(f"/api/v1/sessions/{session_id}", consistency=confirmed_token)
        self.assertEqual(as_client.body["status"], "confirmed")

        # the client cancels more than 24 h ahead: not late. The reason may be health
        # information: the participants read it, the log only holds it sealed with the client's key
        reason = f"Exam moved, and my panic attacks are back ({uuid.uuid4().hex})"
        cancelled = client.post(f"/api/v1/sessions/{session_id}/cancel",
                                {"reason": reason}, consistency=confirmed_token)
        self.assertEqual(cancelled.status, 200, cancelled)
        self.assertEqual(cancelled.body["status"], "cancelled")
        self.assertIs(late_flag(cancelled.body), False, cancelled)
        self.assertEqual(cancelled.body["cancellation_reason"], reason)
        for participant in (client, counselor):
            shown = participant.get(f"/api/v1/sessions/{session_id}",
                                    consistency=cancelled.header("Consistency-Token"))
            self.assertEqual(shown.status, 200, shown)
            self.assertEqual(shown.body["cancellation_reason"], reason, shown)
        [event] = harness.wait_until(
            lambda: [e for e in harness.logged_events(self.db)
                     if e["type"] == "session.cancelled"
                     and e["data"]["session_id"] == session_id],
            timeout=30, what="the session.cancelled event in the log")
        self.assertEqual(event["version"], 2, event)
        self.assertEqual(event["data"]["cancelled_by"], client.id)
        self.assertTrue(event["data"]["reason"].startswith("enc:v1:"), event)
        self.assertNotIn(reason, json.dumps(harness.logged_events(self.db)))
        for text in (reason, "panic attacks", "Exam stress"):
            self.assertNotIn(text, every_log_record(self.db), "clear text in the log")

        listed = client.get("/api/v1/sessions?status=cancelled")
        self.assertEqual(listed.status, 200, listed)
        self.assertEqual([s["id"] for s in results_of(listed)], [session_id])
        self.assertEqual(results_of(client.get("/api/v1/sessions?status=requested")), [])
        for_counselor = counselor.get("/api/v1/sessions?status=cancelled",
                                      consistency=client.consistency)
        self.assertEqual([s["id"] for s in results_of(for_counselor)], [session_id])

        # the cancelled slot is free again
        slots_freed = client.get(slots_path)
        self.assertIn(start, [parse_time(s["start"]) for s in slots_freed.body["slots"]])

        # the counsellor declines a new booking of it with a reason: sealed with the client's key
        # too (it is about the client), and the two of them read it
        rebooked = client.post("/api/v1/sessions", {
            "counselor_id": counselor_id, "start": iso(start), "duration_minutes": 60,
            "mode": "chat"})
        self.assertEqual(rebooked.status, 201, rebooked)
        decline_reason = f"Your panic disorder needs a specialist ({uuid.uuid4().hex})"
        declined = counselor.post(f"/api/v1/sessions/{rebooked.body['id']}/decline",
                                  {"reason": decline_reason},
                                  consistency=rebooked.header("Consistency-Token"))
        self.assertEqual(declined.status, 200, declined)
        self.assertEqual(declined.body["status"], "declined")
        self.assertEqual(declined.body["decline_reason"], decline_reason)
        shown = client.get(f"/api/v1/sessions/{rebooked.body['id']}",
                           consistency=declined.header("Consistency-Token"))
        self.assertEqual(shown.body["decline_reason"], decline_reason, shown)
        self.assertNotIn(decline_reason, every_log_record(self.db), "clear text in the log")

        me = client.get("/api/v1/me")
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.body["id"], client.id)
        self.assertEqual(me.body["email"], client.email)
        self.assertEqual(me.body["role"], "client")
        self.assertEqual(me.body["display_name"], "Sipho Dlamini")
        self.assertNotIn("password", me.text.lower())

        assert_problem(self, api.get("/api/v1/me"), 401)


def every_log_record(db):
    """Every record of every log topic (commands, events, results) as one text."""
    if harness.LOG_ENGINE == "kafka":
        return "\n".join(value for topic in harness.KAFKA_TOPICS
                         for _, value in harness.kcat_records(topic))
    return db.query("SELECT coalesce(string_agg(value::text, E'\\n'), '') FROM log.records")


def late_flag(session):
    """The session's late-cancellation flag (`late`, as in the session.cancelled event, or a
    `late_cancellation` / `cancellation.late` spelling)."""
    if "late" in session:
        return session["late"]
    if "late_cancellation" in session:
        return session["late_cancellation"]
    cancellation = session.get("cancellation")
    if isinstance(cancellation, dict) and "late" in cancellation:
        return cancellation["late"]
    raise AssertionError(f"the cancelled session carries no late flag: {session}")


if __name__ == "__main__":
    harness.main(time_limit=60)
