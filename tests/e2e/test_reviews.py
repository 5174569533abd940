"""Reviews (issue 5): only the client of a completed session with that counsellor reviews it, once;
anyone signed in pages through a counsellor's reviews without learning who wrote them; search
shows each counsellor's rating and review count, sorts by rating, and a rebuild of the
counselors projection from the log gives the same figures. A comment never enters the log in
clear text."""

import json
import unittest
import uuid

import harness
from harness import assert_problem

REVIEWS = "/api/v1/counselors/{}/reviews"


class Calendar:
    """Distinct 30-minute slots in a ready counsellor's week (mon-fri 09:00-17:00, 15-minute
    buffer): eight a day, on the hour."""

    def __init__(self):
        self.used = 0

    def next_start(self):
        slot = self.used
        self.used += 1
        return harness.weekday_at(9 + slot % 8, nth=slot // 8)


class ReviewsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("reviews")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        cls.calendars = {}

    # --- fixtures

    def counselor(self, specialty=None):
        counselor = harness.ready_counselor(self.api)
        if specialty:
            profile = counselor.put_profile(specialties=(specialty,))
            self.assertEqual(profile.status, 200, profile)
        self.calendars[counselor.id] = Calendar()
        return counselor

    def session(self, client, counselor, until="completed"):
        """A session of `client` with `counselor`, moved on to `until`: requested, confirmed,
        cancelled or completed. Returns its id; the client's token then covers its state."""
        start = self.calendars[counselor.id].next_start()
        booked = harness.book(client, counselor.id, start, duration_minutes=30)
        self.assertEqual(booked.status, 201, booked)
        session_id = booked.body["id"]
        token = booked.header("Consistency-Token")
        steps = {"requested": [], "confirmed": ["confirm"], "cancelled": ["cancel"],
                 "completed": ["confirm", "complete"]}[until]
        for step in steps:
            actor = client if step == "cancel" else counselor
            moved = actor.post(f"/api/v1/sessions/{session_id}/{step}", consistency=token)
            self.assertEqual(moved.status, 200, moved)
            token = moved.header("Consistency-Token")
        self.assertEqual(client.get(f"/api/v1/sessions/{session_id}",
                                    consistency=token).body["status"], until)
        return session_id

    def review(self, user, counselor_id, session_id, rating=5, comment=None, **kwargs):
        body = {"session_id": session_id, "rating": rating}
        if comment is not None:
            body["comment"] = comment
        return user.post(REVIEWS.format(counselor_id), body, **kwargs)

    def all_reviews(self, user, counselor_id, consistency=None):
        listed = user.get(REVIEWS.format(counselor_id) + "?per_page=100", consistency=consistency)
        self.assertEqual(listed.status, 200, listed)
        return listed.body["results"]

    # --- the rules

    def test_only_the_client_of_a_completed_session_reviews_it_once(self):
        api = self.api
        counselor, elsewhere = self.counselor(), self.counselor()
        client, other_client = api.new_user("client"), api.new_user("client")
        done = self.session(client, counselor)

        # Not completed (yet, or ever): 422.
        for until in ("requested", "confirmed", "cancelled"):
            session_id = self.session(client, counselor, until=until)
            assert_problem(self, self.review(client, counselor.id, session_id), 422,
                           "session_not_completed")

        # Not the session's client: another client, the counsellor, staff.
        other_client.consistency = client.consistency
        refused = self.review(other_client, counselor.id, done)
        assert_problem(self, refused, 403, "not_session_client")
        for staff in (counselor, api.admin()):
            refused = self.review(staff, counselor.id, done, consistency=client.consistency)
            assert_problem(self, refused, 403, "not_session_client")

        # The session under another counsellor's id, or a counsellor nobody knows.
        assert_problem(self, self.review(client, elsewhere.id, done), 404, "session_not_found")
        assert_problem(self, self.review(client, str(uuid.uuid4()), done), 404,
                       "counselor_not_found")
        assert_problem(self, self.review(client, "not-a-uuid", done), 404, "counselor_not_found")

        # The request's shape.
        for rating in (0, 6, -1, "5", 4.5, None, True, [5]):
            problem = assert_problem(self, self.review(client, counselor.id, done, rating=rating),
                                     400, "validation_failed")
            self.assertEqual(problem.get("field"), "rating", f"rating {rating!r}")
        missing = client.post(REVIEWS.format(counselor.id), {"session_id": done})
        self.assertEqual(assert_problem(self, missing, 400, "validation_failed")["field"], "rating")
        for session_id in ("nope", None, 7):
            problem = assert_problem(self, self.review(client, counselor.id, session_id), 400,
                                     "validation_failed")
            self.assertEqual(problem["field"], "session_id")
        for comment in ("x" * 2001, 12, ["a"], "nul\u0000inside"):
            problem = assert_problem(self, self.review(client, counselor.id, done, comment=comment),
                                     400, "validation_failed")
            self.assertEqual(problem["field"], "comment", f"comment {comment!r:.40}")
        assert_problem(self, client.post(REVIEWS.format(counselor.id), raw=b"[1]"), 400)
        not_utf8 = b'{"session_id": "%s", "rating": 5, "comment": "caf\xe9"}' % done.encode()
        problem = assert_problem(self, client.post(REVIEWS.format(counselor.id), raw=not_utf8),
                                 400, "validation_failed")
        self.assertEqual(problem["field"], "comment")

        # The review itself: 201 with the resource, a Location and a Consistency-Token.
        created = self.review(client, counselor.id, done, rating=4,
                              comment="  Listened well; \u00e9 2000 chars max  ")
        self.assertEqual(created.status, 201, created)
        body = created.body
        self.assertEqual(set(body), {"id", "counselor_id", "session_id", "rating", "comment",
                                     "created_at"})
        self.assertEqual(body["counselor_id"], counselor.id)
        self.assertEqual(body["session_id"], done)
        self.assertEqual(body["rating"], 4)
        self.assertEqual(body["comment"], "Listened well; \u00e9 2000 chars max")
        harness.parse_time(body["created_at"])
        uuid.UUID(body["id"])
        self.assertEqual(created.header("Location"), REVIEWS.format(counselor.id))
        self.assertTrue(created.header("Consistency-Token"))

        # Once per session, whatever the second one says.
        assert_problem(self, self.review(client, counselor.id, done, rating=1), 409,
                       "already_reviewed")
        assert_problem(self, self.review(client, counselor.id, done, rating=4), 409,
                       "already_reviewed")
        # A 2000-character comment is fine; a retried request (same Idempotency-Key) is the
        # same review, not a conflict.
        second = self.session(client, counselor)
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first_try = self.review(client, counselor.id, second, rating=5, comment="y" * 2000,
                                headers=key)
        self.assertEqual(first_try.status, 201, first_try)
        retried = self.review(client, counselor.id, second, rating=5, comment="y" * 2000,
                              headers=key)
        self.assertEqual(retried.status, 201, retried)
        self.assertEqual(retried.body["id"], first_try.body["id"])

        listed = self.all_reviews(client, counselor.id)
        self.assertEqual(sorted(r["rating"] for r in listed), [4, 5])

    # --- reading them

    def test_reviews_page_newest_first_without_the_reviewers(self):
        api = self.api
        counselor = self.counselor()
        clients = [api.new_user("client") for _ in range(3)]
        written = []
        for rating, client in zip((5, 2, 4), clients):
            session_id = self.session(client, counselor)
            created = self.review(client, counselor.id, session_id, rating=rating,
                                  comment=f"Review rated {rating}")
            self.assertEqual(created.status, 201, created)
            written.append(created)
        token = written[-1].header("Consistency-Token")

        reader = api.new_user("client")
        page1 = reader.get(REVIEWS.format(counselor.id) + "?page=1&per_page=2", consistency=token)
        self.assertEqual(page1.status, 200, page1)
        self.assertEqual(page1.body["count"], 3)
        self.assertEqual(page1.body["total"], 3)
        self.assertEqual(page1.body["total_pages"], 2)
        self.assertTrue(page1.body["has_next"])
        self.assertFalse(page1.body["has_previous"])
        page2 = reader.get(REVIEWS.format(counselor.id) + "?page=2&per_page=2", consistency=token)
        self.assertEqual(page2.status, 200, page2)
        self.assertFalse(page2.body["has_next"])
        self.assertTrue(page2.body["has_previous"])
        listed = page1.body["results"] + page2.body["results"]
        # Newest first.
        self.assertEqual([r["id"] for r in listed], [w.body["id"] for w in reversed(written)])
        self.assertEqual([r["rating"] for r in listed], [4, 2, 5])
        self.assertEqual(listed[0]["comment"], "Review rated 4")
        for review in listed:
            self.assertEqual(set(review), {"id", "rating", "comment", "created_at"}, review)

        # Nobody but an admin learns who wrote them: not other clients, not the counsellor.
        for viewer in (reader, counselor, clients[0]):
            seen = viewer.get(REVIEWS.format(counselor.id), consistency=token)
            self.assertEqual(seen.status, 200, seen)
            for client in clients:
                self.assertNotIn(client.id, seen.text, f"{viewer.role} sees a reviewer")
        as_admin = api.admin().get(REVIEWS.format(counselor.id), consistency=token)
        self.assertEqual(as_admin.status, 200, as_admin)
        self.assertEqual({r["client_id"] for r in as_admin.body["results"]},
                         {client.id for client in clients})

        unreviewed = self.counselor()
        empty = reader.get(REVIEWS.format(unreviewed.id), consistency=unreviewed.consistency)
        self.assertEqual(empty.status, 200, empty)
        self.assertEqual((empty.body["results"], empty.body["count"]), ([], 0))
        assert_problem(self, reader.get(REVIEWS.format(uuid.uuid4())), 404, "counselor_not_found")
        assert_problem(self, reader.get(REVIEWS.format(counselor.id) + "?per_page=0"), 400)
        assert_problem(self, reader.get(REVIEWS.format(counselor.id) + "?page=x"), 400)
        assert_problem(self, harness.Api(self.api.base_url).get(REVIEWS.format(counselor.id)),
                       401)

    # --- search and the rebuild

    def test_search_ratings_match_the_reviews_and_survive_a_rebuild(self):
        api = self.api
        specialty = "rated-" + uuid.uuid4().hex[:12]
        ratings = {"best": [5, 4], "middle": [3], "low": [1, 2, 2], "unreviewed": []}
        counselors = {name: self.counselor(specialty) for name in ratings}
        token = merged_token(*(counselor.consistency for counselor in counselors.values()))
        for name, given in ratings.items():
            for rating in given:
                client = api.new_user("client")
                session_id = self.session(client, counselors[name])
                created = self.review(client, counselors[name].id, session_id, rating=rating)
                self.assertEqual(created.status, 201, created)
                token = merged_token(token, created.header("Consistency-Token"))
        searcher = api.new_user("client")
        searcher.consistency = merged_token(token, searcher.consistency)

        def search():
            found = searcher.get(f"/api/v1/counselors?specialty={specialty}&sort=rating")
            self.assertEqual(found.status, 200, found)
            return found.body["results"]

        def expected_figures():
            """(rating, review_count) per counsellor id, from their reviews as listed."""
            figures = {}
            for counselor in counselors.values():
                listed = [r["rating"] for r in self.all_reviews(searcher, counselor.id)]
                mean = round(sum(listed) / len(listed), 2) if listed else None
                figures[counselor.id] = (mean, len(listed))
            return figures

        results = search()
        self.assertEqual([c["id"] for c in results],
                         [counselors[name].id for name in ("best", "middle", "low", "unreviewed")])
        figures = expected_figures()
        self.assertEqual(figures[counselors["low"].id], (1.67, 3))
        for listed in results:
            self.assertEqual((listed["rating"], listed["review_count"]), figures[listed["id"]],
                             listed)
        detail = searcher.get(f"/api/v1/counselors/{counselors['best'].id}")
        self.assertEqual((detail.body["rating"], detail.body["review_count"]), (4.5, 2))
        by_name = searcher.get(f"/api/v1/counselors?specialty={specialty}")
        self.assertEqual({c["id"]: (c["rating"], c["review_count"])
                          for c in by_name.body["results"]}, figures)

        rebuilt = harness.run_counsel(["projections", "rebuild", "counselors",
                                       *harness.common_flags(self.db)], timeout=120)
        self.assertEqual(rebuilt.returncode, 0, rebuilt.stderr)

        after = search()
        self.assertEqual([c["id"] for c in after], [c["id"] for c in results])
        for listed in after:
            self.assertEqual((listed["rating"], listed["review_count"]), figures[listed["id"]],
                             listed)
        self.assertEqual(expected_figures(), figures, "the rebuild kept every review")
        self.assertEqual(self.db.query("SELECT count(*) FROM read.reviews WHERE counselor_id IN ("
                                       + ",".join(f"'{c.id}'" for c in counselors.values())
                                       + ")").strip(), "6")

    # --- the audit stream

    def test_the_comment_never_enters_the_log_in_clear(self):
        api = self.api
        counselor, client = self.counselor(), api.new_user("client")
        marker = "Marker-" + uuid.uuid4().hex
        session_id = self.session(client, counselor)
        created = self.review(client, counselor.id, session_id, rating=3,
                              comment=f"{marker}: she helped me through exams")
        self.assertEqual(created.status, 201, created)
        self.assertIn(marker, created.body["comment"])
        self.assertIn(marker, json.dumps(self.all_reviews(client, counselor.id)))

        events = harness.wait_until(
            lambda: [e for e in harness.logged_events(self.db)
                     if e["type"] == "review.submitted"
                     and e["data"]["session_id"] == session_id],
            timeout=30, what="the review.submitted event in the log")
        [event] = events
        self.assertEqual(event["stream"], f"counselor-{counselor.id}")
        self.assertEqual(event["data"]["client_id"], client.id)
        self.assertEqual(event["data"]["rating"], 3)
        self.assertTrue(event["data"]["comment"].startswith("enc:v1:"), event)
        self.assertNotIn(marker, json.dumps(harness.logged_events(self.db)))


def merged_token(*tokens):
    """One Consistency-Token covering several: the highest offset seen per partition."""
    highest = {}
    for token in filter(None, tokens):
        for position in token.split(","):
            partition, offset = (int(part) for part in position.split("."))
            highest[partition] = max(highest.get(partition, -1), offset)
    return ",".join(f"{p}.{o}" for p, o in sorted(highest.items())) or None


if __name__ == "__main__":
    harness.main(time_limit=180)
