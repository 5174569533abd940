"""Access and refresh tokens over HTTP: login hands out a refresh token, refresh rotates it, a
spent token presented again revokes its whole family, logout revokes, access tokens expire,
and a password change ends every session started with the old password."""

import base64
import json
import threading
import time
import unittest

import harness
from harness import assert_problem


def login_body(api, email, password=harness.PASSWORD):
    response = api.login(email, password=password)
    if response.status != 200:
        raise AssertionError(f"login failed: {response!r}")
    return response.body


def registered(api):
    """A fresh client's email, id and first login body (a registration waits for its read model
    through the Consistency-Token, so the login sees it)."""
    email = harness.unique_email("client")
    response = api.register(email=email)
    if response.status != 201:
        raise AssertionError(f"register failed: {response!r}")
    body = api.login(email, consistency=response.header("Consistency-Token")).body
    return email, response.body["id"], body


class TokensTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("tokens")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def refresh(self, token):
        return self.api.post("/api/v1/auth/refresh", {"refresh_token": token})

    def me(self, access_token):
        return self.api.get("/api/v1/me", token=access_token)

    def test_login_returns_a_refresh_token(self):
        _, user_id, body = registered(self.api)
        for field in ("access_token", "token_type", "expires_in", "user"):
            self.assertIn(field, body)
        self.assertEqual(body["user"]["id"], user_id)
        token = body["refresh_token"]
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        self.assertNotEqual(token, body["access_token"])
        # Only a hash is stored, never the token itself.
        stored = self.db.query(
            f"SELECT count(*) FROM identity.refresh_tokens WHERE token_hash = '{token}'")
        self.assertEqual(stored.strip(), "0")

    def test_refresh_rotates_and_reuse_revokes_the_family(self):
        _, user_id, body = registered(self.api)
        first = body["refresh_token"]

        rotated = self.refresh(first)
        self.assertEqual(rotated.status, 200, rotated)
        self.assertEqual(rotated.body["token_type"], "Bearer")
        self.assertGreater(rotated.body["expires_in"], 0)
        second = rotated.body["refresh_token"]
        self.assertNotEqual(second, first)
        me = self.me(rotated.body["access_token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.body["id"], user_id)

        again = self.refresh(second)
        self.assertEqual(again.status, 200, again)
        third = again.body["refresh_token"]

        # The first token was spent: presenting it again is theft (or a replay).
        assert_problem(self, self.refresh(first), 401, "refresh_token_reused")
        # ... and the legitimate holder's newest token is revoked with the family.
        assert_problem(self, self.refresh(third), 401, "invalid_refresh_token")
        assert_problem(self, self.refresh(second), 401, "invalid_refresh_token")

    def test_another_login_is_another_family(self):
        email, _, body = registered(self.api)
        other = login_body(self.api, email)["refresh_token"]
        first = body["refresh_token"]
        self.assertEqual(self.refresh(first).status, 200)
        assert_problem(self, self.refresh(first), 401, "refresh_token_reused")
        # Reuse in one family leaves the other session alone.
        self.assertEqual(self.refresh(other).status, 200)

    def test_concurrent_refreshes_of_one_token_cannot_both_succeed(self):
        _, _, body = registered(self.api)
        token = body["refresh_token"]
        results = []
        start = threading.Barrier(4)

        def attempt():
            start.wait()
            results.append(self.refresh(token))

        threads = [threading.Thread(target=attempt) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(r.status for r in results)
        self.assertLessEqual(statuses.count(200), 1, results)
        self.assertEqual(statuses.count(401), len(results) - statuses.count(200), results)

    def test_unknown_tokens_are_refused(self):
        for token in ("0" * 64, "not-a-token", "x" * 300):
            assert_problem(self, self.refresh(token), 401, "invalid_refresh_token")

    def test_logout_revokes(self):
        email, _, body = registered(self.api)
        access = body["access_token"]
        first = body["refresh_token"]
        second = login_body(self.api, email)["refresh_token"]

        logout = self.api.post("/api/v1/auth/logout", {"refresh_token": first}, token=access)
        self.assertEqual(logout.status, 204, logout)
        assert_problem(self, self.refresh(first), 401, "invalid_refresh_token")
        rotated = self.refresh(second)
        self.assertEqual(rotated.status, 200, rotated)

        # Without a token: every session of the user ends.
        everywhere = self.api.post("/api/v1/auth/logout", token=access)
        self.assertEqual(everywhere.status, 204, everywhere)
        assert_problem(self, self.refresh(rotated.body["refresh_token"]), 401,
                       "invalid_refresh_token")

        # Someone else's token is not theirs to revoke (and nothing says whether it exists).
        _, _, stranger = registered(self.api)
        logout = self.api.post("/api/v1/auth/logout",
                               {"refresh_token": stranger["refresh_token"]}, token=access)
        self.assertEqual(logout.status, 204, logout)
        self.assertEqual(self.refresh(stranger["refresh_token"]).status, 200)

        assert_problem(self, self.api.post("/api/v1/auth/logout", {"refresh_token": first}), 401,
                       "not_authenticated")

    def test_password_change(self):
        email, _, body = registered(self.api)
        access = body["access_token"]
        old_refresh = body["refresh_token"]
        new_password = "a-new-secret-2026"

        def change(payload):
            return self.api.post("/api/v1/auth/password", payload, token=access)

        assert_problem(self, change({"current_password": "wrong-password",
                                     "new_password": new_password}), 401, "invalid_credentials")
        assert_problem(self, change({"current_password": harness.PASSWORD,
                                     "new_password": "short"}), 400, "invalid_password")
        assert_problem(self, change({"current_password": harness.PASSWORD,
                                     "new_password": "x" * 65}), 400, "invalid_password")
        assert_problem(self, self.api.post("/api/v1/auth/password", {
            "current_password": harness.PASSWORD, "new_password": new_password}), 401,
                       "not_authenticated")

        changed = change({"current_password": harness.PASSWORD, "new_password": new_password})
        self.assertEqual(changed.status, 204, changed)
        self.assertTrue(changed.header("Consistency-Token"))

        old = self.api.post("/api/v1/auth/login", {"email": email, "password": harness.PASSWORD})
        assert_problem(self, old, 401, "invalid_credentials")
        new = self.api.post("/api/v1/auth/login", {"email": email, "password": new_password})
        self.assertEqual(new.status, 200, new)
        # Sessions started with the old password are over.
        assert_problem(self, self.refresh(old_refresh), 401, "invalid_refresh_token")
        self.assertEqual(self.refresh(new.body["refresh_token"]).status, 200)

        events = harness.logged_events(self.db)
        changed_events = [e for e in events if e["type"] == "account.password_changed"]
        self.assertTrue(changed_events, "no account.password_changed in the log")
        for event in changed_events:
            self.assertTrue(event["data"]["password_hash"].startswith("enc:v1:"), event)

    def test_malformed_bodies(self):
        _, _, body = registered(self.api)
        access = body["access_token"]
        for raw in (b"", b"[1]", b"{", b'{"refresh_token": 5}', b"{}",
                    b'{"refresh_token": ""}'):
            response = self.api.post("/api/v1/auth/refresh", raw=raw)
            assert_problem(self, response, 400)
        for raw in (b"[1]", b"{", b'{"refresh_token": 5}', b'{"refresh_token": ""}'):
            response = self.api.post("/api/v1/auth/logout", raw=raw, token=access)
            assert_problem(self, response, 400)
        for raw in (b"", b"[]", b"{", b"{}", b'{"current_password": "x"}',
                    b'{"current_password": 1, "new_password": "long-enough-1"}'):
            response = self.api.post("/api/v1/auth/password", raw=raw, token=access)
            assert_problem(self, response, 400)
        # None of that spent the refresh token.
        self.assertEqual(self.refresh(body["refresh_token"]).status, 200)

    def test_zz_expired_access_token_is_refused_and_refresh_gets_a_new_one(self):
        """Named to run last: it restarts the server with one-second access tokens (on the same
        database; a second server would share the Kafka engine's consumer groups)."""
        self.server.stop()
        server = harness.CounselProcess("serve", self.db, extra_args=["--access-token-ttl", "1"])
        api = harness.Api(server.base_url)
        _, user_id, body = registered(api)
        self.assertEqual(body["expires_in"], 1)
        time.sleep(2.1)
        assert_problem(self, api.get("/api/v1/me", token=body["access_token"]), 401,
                       "invalid_token")
        rotated = api.post("/api/v1/auth/refresh", {"refresh_token": body["refresh_token"]})
        self.assertEqual(rotated.status, 200, rotated)
        self.assertEqual(rotated.body["expires_in"], 1)
        # Using it could race its one-second life (exp is whole seconds): read its claims.
        payload = rotated.body["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual(claims["sub"], user_id)
        self.assertEqual(claims["role"], "client")
        self.assertLessEqual(claims["exp"] - claims["iat"], 1)


if __name__ == "__main__":
    harness.main(time_limit=120)
