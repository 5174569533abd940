"""Password reset over HTTP: a request always answers 202 the same way, an existing account gets
an email (through the notification outbox and the mail-dir channel) with a one-time token, and
confirming it sets the new password and ends every session. Neither the token nor the new
password appears in clear text in the events log or the outbox."""

import hashlib
import json
import os
import re
import stat
import threading
import time
import unittest

import harness
from harness import assert_problem

NEW_PASSWORD = "a-fresh-secret-2026"
ACCEPTED = {"detail": "If an account exists for this email, a reset link is on its way."}
TOKEN_IN_MAIL = re.compile(r'"token": "([0-9a-f]{64})"')
RESPONSE_FLOOR_SECONDS = 0.25  # the server's, so timing does not tell whether an account exists


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


class PasswordResetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("password_reset")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    # --- helpers

    def registered(self, api=None):
        """A fresh client's email, id and first login body."""
        api = api or self.api
        email = harness.unique_email("client")
        response = api.register(email=email)
        self.assertEqual(response.status, 201, response)
        login = api.login(email, consistency=response.header("Consistency-Token"))
        self.assertEqual(login.status, 200, login)
        return email, response.body["id"], login.body

    def request_reset(self, email, api=None):
        return (api or self.api).post("/api/v1/auth/password/reset", {"email": email})

    def confirm(self, token, new_password=NEW_PASSWORD, api=None):
        return (api or self.api).post("/api/v1/auth/password/reset/confirm",
                                      {"token": token, "new_password": new_password})

    def mailed_token(self, email, count=1):
        """The token of the newest email to `email`, once `count` emails have arrived."""
        harness.wait_until(lambda: len(harness.mails_to(email)) >= count, timeout=15,
                           what=f"{count} email(s) to {email}")
        match = TOKEN_IN_MAIL.search(harness.read_mail(email))
        self.assertIsNotNone(match, "the email holds no token")
        return match.group(1)

    def outbox_row(self, user_id):
        """(attempts, delivered, gave_up, last_error) of the user's newest outbox message."""
        row = self.db.query(
            "SELECT attempts, delivered_at IS NOT NULL, gave_up_at IS NOT NULL,"
            " coalesce(last_error, '') FROM notify.outbox"
            f" WHERE user_id = '{user_id}' ORDER BY created_at DESC LIMIT 1").strip()
        if not row:
            return None
        attempts, delivered, gave_up, last_error = row.split("|", 3)
        return int(attempts), delivered == "t", gave_up == "t", last_error

    # --- tests

    def test_reset_end_to_end(self):
        email, user_id, first_login = self.registered()
        nobody = harness.unique_email("nobody")

        started = time.monotonic()
        unknown = self.request_reset(nobody)
        unknown_seconds = time.monotonic() - started
        started = time.monotonic()
        known = self.request_reset(email)
        known_seconds = time.monotonic() - started
        for response in (unknown, known):
            self.assertEqual(response.status, 202, response)
            self.assertEqual(response.body, ACCEPTED)
        self.assertEqual(unknown.text, known.text)
        self.assertGreaterEqual(unknown_seconds, RESPONSE_FLOOR_SECONDS - 0.01)
        self.assertGreaterEqual(known_seconds, RESPONSE_FLOOR_SECONDS - 0.01)

        mail = harness.read_mail(email)
        self.assertIn("Subject: Reset your counsel password", mail)
        self.assertIn("/api/v1/auth/password/reset/confirm", mail)
        token = self.mailed_token(email)
        # Only the existing account got an email, and only one.
        self.assertEqual(harness.mails_to(nobody), [])
        self.assertEqual(len(harness.mails_to(email)), 1)
        eml = [name for name in os.listdir(harness.MAIL_DIR) if name.endswith(".eml")]
        for name in eml:
            mode = stat.S_IMODE(os.stat(os.path.join(harness.MAIL_DIR, name)).st_mode)
            self.assertEqual(mode, 0o600, name)

        assert_problem(self, self.confirm("0" * 64), 401, "invalid_reset_token")
        assert_problem(self, self.confirm("not-a-token"), 401, "invalid_reset_token")
        assert_problem(self, self.confirm(token, "short"), 400, "invalid_password")
        assert_problem(self, self.confirm(token, "x" * 65), 400, "invalid_password")
        assert_problem(self, self.api.post("/api/v1/auth/password/reset/confirm",
                                           {"new_password": NEW_PASSWORD}), 400,
                       "invalid_request")

        done = self.confirm(token)
        self.assertEqual(done.status, 204, done)
        self.assertTrue(done.header("Consistency-Token"))

        old = self.api.post("/api/v1/auth/login", {"email": email, "password": harness.PASSWORD})
        assert_problem(self, old, 401, "invalid_credentials")
        new = self.api.post("/api/v1/auth/login", {"email": email, "password": NEW_PASSWORD})
        self.assertEqual(new.status, 200, new)
        # One use only.
        assert_problem(self, self.confirm(token, "yet-another-secret-1"), 401,
                       "invalid_reset_token")
        # Sessions started with the old password are over.
        refreshed = self.api.post("/api/v1/auth/refresh",
                                  {"refresh_token": first_login["refresh_token"]})
        assert_problem(self, refreshed, 401, "invalid_refresh_token")

        # The audit stream says what happened, and nothing secret.
        events = harness.logged_events(self.db)
        mine = [e for e in events if e["stream"] == f"account-{user_id}"]
        types = [e["type"] for e in mine]
        self.assertIn("account.password_reset_requested", types)
        self.assertIn("account.password_changed", types)
        requested = next(e for e in mine if e["type"] == "account.password_reset_requested")
        self.assertEqual(requested["actor"]["role"], "system")
        self.assertEqual(set(requested["data"]), {"user_id", "expires_at"})
        raw_log = json.dumps(events)
        self.assertNotIn(token, raw_log)
        self.assertNotIn(sha256_hex(token), raw_log)
        self.assertNotIn(NEW_PASSWORD, raw_log)

        # The database keeps the token's hash only, and the email sealed.
        self.assertEqual(self.db.query(
            "SELECT count(*) FROM identity.password_reset_tokens"
            f" WHERE token_hash = '{token}'").strip(), "0")
        self.assertEqual(self.db.query(
            "SELECT used_at IS NOT NULL FROM identity.password_reset_tokens"
            f" WHERE token_hash = '{sha256_hex(token)}'").strip(), "t")
        payload = self.db.query(
            f"SELECT payload FROM notify.outbox WHERE user_id = '{user_id}'").strip()
        self.assertTrue(payload.startswith("enc:v1:"), payload[:20])
        self.assertNotIn(token, payload)
        self.assertNotIn(email, payload)
        self.assertEqual(self.outbox_row(user_id), (1, True, False, ""))
        self.assertEqual(self.db.query(
            "SELECT string_agg(attempt || ':' || ok, ',') FROM notify.delivery_attempts a"
            f" JOIN notify.outbox o ON o.id = a.outbox_id WHERE o.user_id = '{user_id}'").strip(),
            "1:true")

    def test_expired_token_is_refused(self):
        email, user_id, _ = self.registered()
        self.assertEqual(self.request_reset(email).status, 202)
        token = self.mailed_token(email)
        self.db.query("UPDATE identity.password_reset_tokens"
                      " SET expires_at = now() - interval '1 minute'"
                      f" WHERE user_id = '{user_id}'")
        assert_problem(self, self.confirm(token), 401, "invalid_reset_token")
        still = self.api.post("/api/v1/auth/login",
                              {"email": email, "password": harness.PASSWORD})
        self.assertEqual(still.status, 200, still)

    def test_a_new_request_replaces_the_earlier_token(self):
        email, _, _ = self.registered()
        self.assertEqual(self.request_reset(email).status, 202)
        first = self.mailed_token(email)
        self.assertEqual(self.request_reset(email).status, 202)
        second = self.mailed_token(email, count=2)
        self.assertNotEqual(first, second)
        assert_problem(self, self.confirm(first), 401, "invalid_reset_token")
        self.assertEqual(self.confirm(second).status, 204)

    def test_concurrent_confirms_use_the_token_once(self):
        email, _, _ = self.registered()
        self.assertEqual(self.request_reset(email).status, 202)
        token = self.mailed_token(email)
        results = []
        start = threading.Barrier(3)

        def attempt(password):
            start.wait()
            results.append((password, self.confirm(token, password)))

        threads = [threading.Thread(target=attempt, args=(f"concurrent-secret-{i}",))
                   for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [password for password, response in results if response.status == 204]
        self.assertEqual(len(winners), 1, [(p, r) for p, r in results])
        for _, response in results:
            if response.status != 204:
                assert_problem(self, response, 401, "invalid_reset_token")
        login = self.api.post("/api/v1/auth/login", {"email": email, "password": winners[0]})
        self.assertEqual(login.status, 200, login)

    def test_suspended_accounts(self):
        email, user_id, _ = self.registered()
        self.assertEqual(self.request_reset(email).status, 202)
        token = self.mailed_token(email)
        suspended = self.api.admin().post(f"/api/v1/admin/users/{user_id}/suspend",
                                          {"reason": "test"})
        self.assertEqual(suspended.status, 200, suspended)
        assert_problem(self, self.confirm(token), 403, "account_suspended")
        # A suspended account is told nothing different, and gets no email.
        again = self.request_reset(email)
        self.assertEqual(again.status, 202, again)
        self.assertEqual(again.body, ACCEPTED)
        time.sleep(1)
        self.assertEqual(len(harness.mails_to(email)), 1)

    def test_malformed_requests(self):
        for raw in (b"", b"[]", b"{", b"{}", b'{"email": 5}', b'{"email": "not-an-email"}'):
            response = self.api.post("/api/v1/auth/password/reset", raw=raw)
            assert_problem(self, response, 400)
        assert_problem(self, self.request_reset("no-at-sign"), 400, "invalid_email")
        for raw in (b"", b"[]", b"{", b'{"token": 5, "new_password": "long-enough-1"}',
                    b'{"token": "", "new_password": "long-enough-1"}'):
            response = self.api.post("/api/v1/auth/password/reset/confirm", raw=raw)
            assert_problem(self, response, 400)
        assert_problem(self, self.confirm("a" * 300), 401, "invalid_reset_token")

    def test_zz_undeliverable_email_waits_and_is_retried(self):
        """Named to run last: it restarts the server (on the same database) without an email
        channel, then with one that fails, then with a working one."""
        def restart(mail_dir):
            self.server.stop()
            self.server = harness.CounselProcess("serve", self.db,
                                                 env={"COUNSEL_MAIL_DIR": mail_dir})
            return harness.Api(self.server.base_url)

        api = restart("")
        queued_email, queued_id, _ = self.registered(api)
        self.assertEqual(self.request_reset(queued_email, api).status, 202)
        harness.wait_until(lambda: self.outbox_row(queued_id) == (
            0, False, False, "no email channel configured"), timeout=10,
            what="the queued email to say why it waits")

        blocker = os.path.join(harness._workdir, "not-a-directory")
        with open(blocker, "w", encoding="utf-8"):
            pass
        api = restart(os.path.join(blocker, "mail"))
        failing_email, failing_id, _ = self.registered(api)
        self.assertEqual(self.request_reset(failing_email, api).status, 202)
        for user_id in (queued_id, failing_id):
            row = harness.wait_until(lambda u=user_id: (self.outbox_row(u) or (0,))[0] == 1
                                     and self.outbox_row(u), timeout=10,
                                     what="a failed delivery attempt")
            attempts, delivered, gave_up, last_error = row
            self.assertFalse(delivered)
            self.assertFalse(gave_up)
            self.assertIn("cannot create the mail directory", last_error)
        self.assertEqual(self.db.query(
            "SELECT count(*) FROM notify.outbox WHERE next_attempt_at > now()"
            f" AND user_id IN ('{queued_id}', '{failing_id}')").strip(), "2")

        # Once a channel works, both go out at their retry (10 s after the failure).
        api = restart(harness.MAIL_DIR)
        for email in (queued_email, failing_email):
            harness.wait_until(lambda e=email: harness.mails_to(e), timeout=30,
                               what=f"the retried email to {email}")
        for user_id in (queued_id, failing_id):
            self.assertEqual(self.outbox_row(user_id), (2, True, False, ""))
            self.assertEqual(self.db.query(
                "SELECT string_agg(attempt || ':' || ok, ',' ORDER BY attempt)"
                " FROM notify.delivery_attempts a JOIN notify.outbox o ON o.id = a.outbox_id"
                f" WHERE o.user_id = '{user_id}'").strip(), "1:false,2:true")
        token = self.mailed_token(failing_email)
        self.assertEqual(self.confirm(token, api=api).status, 204)


if __name__ == "__main__":
    harness.main(time_limit=150)
