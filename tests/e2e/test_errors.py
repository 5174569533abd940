"""Every error case of the contract: the right status, the right code, and always an RFC 9457
problem (application/problem+json with code, status, title, timestamp)."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import unittest
import uuid

import harness
from harness import assert_problem, iso

SESSIONS = "/api/v1/sessions"


class ErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("errors")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        # Two days of minimum notice separate "too soon" from "in the past" clearly.
        cls.counselor = harness.ready_counselor(cls.api, buffer_minutes=0,
                                                min_notice_minutes=2 * 24 * 60)
        cls.other_counselor = harness.ready_counselor(cls.api)
        cls.client = cls.api.new_user("client")
        cls.other_client = cls.api.new_user("client")

    def booking(self, **changes):
        body = {"counselor_id": self.counselor.id, "start": iso(harness.weekday_at(10)),
                "duration_minutes": 60, "topic": "", "mode": "chat"}
        body.update(changes)
        return {k: v for k, v in body.items() if v is not REMOVE}

    def book_valid(self, hour=10, nth=0):
        """A session of `client` with `counselor`, visible to both."""
        response = harness.book(self.client, self.counselor.id, harness.weekday_at(hour, nth=nth))
        self.assertEqual(response.status, 201, response)
        session_id = response.body["id"]
        harness.wait_visible(self.counselor, session_id, response.header("Consistency-Token"))
        return session_id

    # --- registration and login

    def test_register_rejects_a_bad_email(self):
        for email in ("not-an-email", "", "@example.org", "someone@", 42, None):
            response = self.api.post("/api/v1/auth/register", {
                "email": email, "password": harness.PASSWORD, "role": "client",
                "display_name": "X"})
            assert_problem(self, response, 400)

    def test_register_password_length(self):
        for password in ("x" * 7, "x" * 65, ""):
            assert_problem(self, self.api.register(password=password), 400)
        for password in ("x" * 8, "x" * 64):
            self.assertEqual(self.api.register(password=password).status, 201)

    def test_register_rejects_other_bad_input(self):
        assert_problem(self, self.api.register(role="superhero"), 400)
        assert_problem(self, self.api.post("/api/v1/auth/register",
                                           {"email": harness.unique_email()}), 400)
        assert_problem(self, self.api.post("/api/v1/auth/register", raw=b"{not json"), 400)

    def test_register_duplicate_email(self):
        email = harness.unique_email()
        self.assertEqual(self.api.register(email=email).status, 201)
        assert_problem(self, self.api.register(email=email), 409, "email_taken")
        assert_problem(self, self.api.register(email=email.upper(), role="counselor"), 409,
                       "email_taken")

    def test_a_retried_registration_with_its_idempotency_key_is_the_same_account(self):
        email = harness.unique_email()
        key = {"Idempotency-Key": "register-" + email}
        first = self.api.register(email=email, headers=key)
        self.assertEqual(first.status, 201, first)
        again = self.api.register(email=email, headers=key)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.body["id"], first.body["id"])
        # Another key is another registration: the email is taken.
        assert_problem(self, self.api.register(email=email, headers={"Idempotency-Key": "other"}),
                       409, "email_taken")

    def test_an_idempotency_key_names_one_request_to_one_resource(self):
        start = harness.weekday_at(15, nth=3)
        key = {"Idempotency-Key": "booking-" + harness.unique_email()}
        first = harness.book(self.client, self.counselor.id, start, headers=key)
        self.assertEqual(first.status, 201, first)
        again = harness.book(self.client, self.counselor.id, start, headers=key)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.body["id"], first.body["id"], "a retry is the same booking")
        # The same key sent for another counsellor's calendar is a request of its own.
        other = harness.book(self.client, self.other_counselor.id, start, headers=key)
        self.assertEqual(other.status, 201, other)
        self.assertNotEqual(other.body["id"], first.body["id"])
        self.assertEqual(other.body["counselor_id"], self.other_counselor.id)

    def test_concurrent_registrations_of_one_email(self):
        email = harness.unique_email()
        barrier = threading.Barrier(10)
        responses = []

        def register():
            barrier.wait(timeout=10)
            responses.append(self.api.register(email=email))

        threads = [threading.Thread(target=register) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual(sorted(r.status for r in responses), [201] + [409] * 9, responses)
        for response in responses:
            if response.status == 409:
                assert_problem(self, response, 409, "email_taken")

    def test_login_failures(self):
        response = self.api.login(self.client.email, password="wrong-password", retry_for=0)
        assert_problem(self, response, 401, "invalid_credentials")
        response = self.api.login(harness.unique_email(), retry_for=0)
        assert_problem(self, response, 401, "invalid_credentials")
        assert_problem(self, self.api.post("/api/v1/auth/login", {"email": self.client.email}),
                       400)

    def test_missing_or_invalid_token(self):
        for path in ("/api/v1/me", SESSIONS, "/api/v1/counselors"):
            assert_problem(self, self.api.get(path), 401)
        assert_problem(self, self.api.post(SESSIONS, self.booking()), 401)
        bad_tokens = [
            "garbage",
            with_signature_changed(self.client.token),
            forged_token(self.client.id, secret=b"not the server's secret"),
            forged_token(self.client.id, algorithm="none"),
            with_claims(self.client.token, role="admin"),
        ]
        for token in bad_tokens:
            assert_problem(self, self.api.get("/api/v1/me", token=token), 401)
        basic = base64.b64encode(f"{self.client.email}:{harness.PASSWORD}".encode()).decode()
        assert_problem(self, self.api.get("/api/v1/me",
                                          headers={"Authorization": f"Basic {basic}"}), 401)

    # --- booking rules, in the contract's order

    def test_booking_in_the_past(self):
        yesterday = harness.now_utc().astimezone(harness.JOHANNESBURG).date() - dt.timedelta(1)
        start = harness.local_datetime(yesterday, 10)
        assert_problem(self, self.client.post(SESSIONS, self.booking(start=iso(start))), 422,
                       "in_past")

    def test_booking_too_soon(self):
        soon = (harness.now_utc() + dt.timedelta(hours=3)).replace(minute=0, second=0,
                                                                  microsecond=0)
        assert_problem(self, self.client.post(SESSIONS, self.booking(start=iso(soon))), 422,
                       "too_soon")

    def test_booking_outside_availability(self):
        start = harness.weekday_at(10)
        sunday = start + dt.timedelta(days=6 - start.weekday())
        evening = harness.weekday_at(20)
        early = harness.weekday_at(7)
        straddling_close = harness.weekday_at(16) + dt.timedelta(minutes=30)
        for moment in (sunday, evening, early, straddling_close):
            response = self.client.post(SESSIONS, self.booking(start=iso(moment)))
            assert_problem(self, response, 422, "outside_availability")
        # a counsellor who is not verified yet cannot be booked at all
        bare = self.api.new_user("counselor")
        response = self.client.post(SESSIONS, self.booking(counselor_id=bare.id))
        assert_problem(self, response, 422, "counselor_not_verified")
        # a verified counsellor who never set availability has none
        self.api.verify(bare)
        response = self.client.post(SESSIONS, self.booking(counselor_id=bare.id))
        assert_problem(self, response, 422, "outside_availability")

    def test_booking_malformed_input(self):
        for raw in (b'{"counselor_id": ', b"[]", b'"text"', b"", b"\xff\xfe"):
            assert_problem(self, self.client.post(SESSIONS, raw=raw), 400)
        bad_bodies = [
            self.booking(duration_minutes="sixty"),
            self.booking(duration_minutes=60.5),
            self.booking(duration_minutes=10),
            self.booking(duration_minutes=241),
            self.booking(start=12345),
            self.booking(start="next tuesday"),
            self.booking(start="2030-02-30T10:00:00Z"),
            self.booking(counselor_id="not-a-uuid"),
            self.booking(counselor_id=None),
            self.booking(mode="telepathy"),
            self.booking(topic=["list"]),
            self.booking(start=REMOVE),
            self.booking(counselor_id=REMOVE),
            self.booking(duration_minutes=REMOVE),
        ]
        for body in bad_bodies:
            response = self.client.post(SESSIONS, body)
            with self.subTest(body=body):
                assert_problem(self, response, 400)

    def test_only_clients_book(self):
        response = self.other_counselor.post(SESSIONS, self.booking())
        self.assertIn(response.status, (403, 422), response)
        assert_problem(self, response, response.status)

    def test_unknown_counselor(self):
        unknown = str(uuid.uuid4())
        assert_problem(self, self.client.get(f"/api/v1/counselors/{unknown}"), 404)
        # Booking an id that is no counsellor at all: a 404, or (since an unknown counsellor has
        # no availability) outside_availability; never a 201 or a 5xx.
        response = self.client.post(SESSIONS, self.booking(counselor_id=unknown))
        self.assertIn(response.status, (404, 422), response)
        assert_problem(self, response, response.status)

    def test_a_known_counselor_stays_bookable_and_others_stay_unknown(self):
        # The api remembers counsellors that bookings found (per counselors read model
        # version); an id that is no counsellor is asked about every time.
        first = harness.book(self.client, self.other_counselor.id, harness.weekday_at(11, nth=3))
        self.assertEqual(first.status, 201, first)
        second = harness.book(self.other_client, self.other_counselor.id,
                              harness.weekday_at(13, nth=3))
        self.assertEqual(second.status, 201, second)
        self.assertEqual(second.body["counselor_id"], self.other_counselor.id)
        for _ in range(2):
            assert_problem(self, self.client.post(SESSIONS, self.booking(
                counselor_id=self.other_client.id)), 404, "counselor_not_found")

    # --- sessions and their state machine

    def test_someone_elses_session_is_not_found(self):
        session_id = self.book_valid(hour=11)
        self.assertEqual(self.client.get(f"{SESSIONS}/{session_id}").status, 200)
        for stranger in (self.other_client, self.other_counselor):
            response = stranger.get(f"{SESSIONS}/{session_id}",
                                    consistency=self.client.consistency)
            assert_problem(self, response, 404)
        assert_problem(self, self.client.get(f"{SESSIONS}/{uuid.uuid4()}"), 404)
        assert_problem(self, self.counselor.post(f"{SESSIONS}/{uuid.uuid4()}/confirm"), 404)

    def test_client_cannot_confirm(self):
        session_id = self.book_valid(hour=12)
        for action in ("confirm", "decline", "complete", "no-show"):
            assert_problem(self, self.client.post(f"{SESSIONS}/{session_id}/{action}"), 403)
        # another counsellor is no participant: refused, or not even told the session exists
        response = self.other_counselor.post(f"{SESSIONS}/{session_id}/confirm")
        self.assertIn(response.status, (403, 404), response)
        assert_problem(self, response, response.status)
        assert_problem(self, self.client.put(f"{SESSIONS}/{session_id}",
                                             {"status": "confirmed"}), 403)

    def test_put_status_as_the_seeds_have_it(self):
        session_id = self.book_valid(hour=13)
        response = self.counselor.put(f"{SESSIONS}/{session_id}", {"status": "confirmed"})
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.body["status"], "confirmed")
        read = self.client.get(f"{SESSIONS}/{session_id}",
                               consistency=response.header("Consistency-Token"))
        self.assertEqual(read.body["status"], "confirmed")
        assert_problem(self, self.counselor.put(f"{SESSIONS}/{session_id}",
                                                {"status": "teleported"}), 400)
        assert_problem(self, self.counselor.put(f"{SESSIONS}/{session_id}", {}), 400)

    def test_invalid_transition(self):
        session_id = self.book_valid(hour=14)
        cancelled = self.client.post(f"{SESSIONS}/{session_id}/cancel", {"reason": "changed"})
        self.assertEqual(cancelled.status, 200, cancelled)
        for action in ("confirm", "decline", "complete", "no-show"):
            response = self.counselor.post(f"{SESSIONS}/{session_id}/{action}",
                                           consistency=cancelled.header("Consistency-Token"))
            assert_problem(self, response, 409, "invalid_transition")
        response = self.client.post(f"{SESSIONS}/{session_id}/cancel", {"reason": "again"})
        assert_problem(self, response, 409, "invalid_transition")
        # requested -> completed skips confirmation
        other_id = self.book_valid(hour=14, nth=1)
        response = self.counselor.post(f"{SESSIONS}/{other_id}/complete")
        assert_problem(self, response, 409, "invalid_transition")

    # --- counsellor profile and availability

    def test_only_that_counselor_edits_profile_and_availability(self):
        target = self.counselor.id
        for intruder in (self.other_counselor, self.client):
            assert_problem(self, intruder.put(f"/api/v1/counselors/{target}/profile", {
                "specialties": ["grief"], "languages": ["en"], "level": "senior", "bio": "x"}),
                403)
            assert_problem(self, intruder.put(f"/api/v1/counselors/{target}/availability",
                                              harness.availability()), 403)

    def test_bad_availability(self):
        path = f"/api/v1/counselors/{self.other_counselor.id}/availability"
        for body in (harness.availability(time_zone="Mars/Olympus_Mons"),
                     harness.availability(days=("funday",)),
                     harness.availability(start="25:00"),
                     harness.availability(start="17:00", end="09:00"),
                     harness.availability(min_notice_minutes="soon"),
                     {"time_zone": "Africa/Johannesburg"}):
            with self.subTest(body=body):
                assert_problem(self, self.other_counselor.put(path, body), 400)

    # --- transport limits

    def test_oversized_body(self):
        status, headers, body = harness.send_oversized(self.server.base_url, SESSIONS,
                                                       16 * 1024 * 1024, token=self.client.token)
        self.assertEqual(status, 413, body[:300])
        self.assertTrue(headers.get("content-type", "").startswith("application/problem+json"),
                        headers)
        problem = json.loads(body)
        self.assertEqual(problem["status"], 413)
        for field in ("code", "title", "timestamp"):
            self.assertIn(field, problem)
        # the server is still fine afterwards
        self.assertEqual(self.client.get("/api/v1/me").status, 200)

    def test_deeply_nested_json(self):
        for depth in (200, 5000):
            nested = b"[" * depth + b"]" * depth
            assert_problem(self, self.client.post(SESSIONS, raw=nested), 400)
            objects = b'{"a":' * depth + b"1" + b"}" * depth
            assert_problem(self, self.api.post("/api/v1/auth/register", raw=objects), 400)
        self.assertEqual(self.client.get("/api/v1/me").status, 200)


REMOVE = object()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(user_id, secret=b"", algorithm="HS256"):
    header = b64url(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    now = int(time.time())
    payload = b64url(json.dumps({"sub": user_id, "role": "client", "iat": now,
                                 "exp": now + 600}).encode())
    signing_input = f"{header}.{payload}".encode()
    if algorithm == "none":
        return f"{header}.{payload}."
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def with_signature_changed(token):
    """The token with the first character of its signature changed (the first one, because
    the last one of a base64url signature partly encodes padding bits a decoder may ignore)."""
    header, payload, signature = token.split(".")
    first = "B" if signature[0] == "A" else "A"
    return f"{header}.{payload}.{first}{signature[1:]}"


def with_claims(token, **claims):
    """The token with its payload changed and its signature kept: must be refused."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims)
    return f"{header}.{b64url(json.dumps(decoded).encode())}.{signature}"


if __name__ == "__main__":
    harness.main(time_limit=60)
