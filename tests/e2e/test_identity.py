"""Identity and access over real HTTP: the first admin from `counsel users create-admin`,
two-factor authentication (TOTP computed here, independently of the server) with its staff
requirement and recovery codes, sign-in records in the events log, admins verifying,
suspending and reinstating accounts (a suspended user's tokens stop working at once, also on
another api process), counsellor verification gating search and booking, and compliance
accounts."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import assert_problem

ME = "/api/v1/me"


def login(api, email, password=harness.PASSWORD, **second_factor):
    return api.post("/api/v1/auth/login", {"email": email, "password": password, **second_factor})


def next_code(user):
    """A TOTP code for a step the server has not accepted yet (each step works once): the
    server allows one step of drift either way, so use now+1 once, then wait for a new step."""
    step = int(time.time()) // 30
    last = getattr(user, "last_totp_step", step - 1)
    if last < step:
        chosen = step
    elif last == step:
        chosen = step + 1
    else:
        time.sleep(30 - time.time() % 30 + 0.2)
        chosen = int(time.time()) // 30
    user.last_totp_step = chosen
    return harness.totp_code(user.totp_secret, at=chosen * 30)


class IdentityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("identity")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        # A second api process on the same database and log: status changes must reach it too.
        cls.other = harness.CounselProcess("api", cls.db, name="api-2")
        cls.other_api = harness.Api(cls.other.base_url)

    # --- the first admin and two-factor

    def test_create_admin_then_two_factor_is_required_before_anything_else(self):
        admin = harness.create_admin(self.api, set_up_two_factor=False)
        # The password is never echoed and never in the events log.
        for path in (ME, "/api/v1/counselors", f"/api/v1/admin/users/{admin.id}/verify"):
            method = "POST" if path.startswith("/api/v1/admin") else "GET"
            response = admin.call(method, path)
            assert_problem(self, response, 403, "two_factor_setup_required")
        assert_problem(self, admin.post("/api/v1/auth/2fa/confirm", {"totp": "123456"}), 409,
                       "two_factor_not_set_up")
        setup = admin.post("/api/v1/auth/2fa/setup")
        self.assertEqual(setup.status, 200, setup)
        secret = setup.body["secret"]
        self.assertRegex(secret, r"^[A-Z2-7]{32}$")
        uri = setup.body["otpauth_uri"]
        self.assertTrue(uri.startswith("otpauth://totp/counsel:"), uri)
        self.assertIn(f"secret={secret}", uri)
        self.assertIn("algorithm=SHA1", uri)
        self.assertIn("digits=6", uri)
        self.assertIn("period=30", uri)
        wrong = harness.totp_code(secret, step_offset=5)
        assert_problem(self, admin.post("/api/v1/auth/2fa/confirm", {"totp": wrong}), 400,
                       "invalid_totp")
        admin.totp_secret = secret
        confirmed = admin.post("/api/v1/auth/2fa/confirm", {"totp": next_code(admin)})
        self.assertEqual(confirmed.status, 200, confirmed)
        codes = confirmed.body["recovery_codes"]
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        # The same token now reaches everything an admin may use.
        self.assertEqual(admin.get(ME).status, 200)
        assert_problem(self, admin.post("/api/v1/auth/2fa/setup"), 409,
                       "two_factor_already_enabled")

        # Sign-in now needs the second factor.
        assert_problem(self, login(self.api, admin.email), 401, "totp_required")
        assert_problem(self, login(self.api, admin.email, totp="000000"), 401, "invalid_totp")
        code = next_code(admin)
        first = login(self.api, admin.email, totp=code)
        self.assertEqual(first.status, 200, first)
        # A code is accepted once: a replay (a code seen over a shoulder) is refused.
        assert_problem(self, login(self.api, admin.email, totp=code), 401, "invalid_totp")
        # A recovery code works once, typed with or without dashes and in any case.
        recovery = codes[0]
        by_recovery = login(self.api, admin.email, recovery_code=recovery.upper())
        self.assertEqual(by_recovery.status, 200, by_recovery)
        assert_problem(self, login(self.api, admin.email, recovery_code=recovery), 401,
                       "invalid_totp")
        self.assertEqual(login(self.api, admin.email,
                               recovery_code=codes[1].replace("-", "")).status, 200)
        # Wrong password stays invalid_credentials whatever the second factor.
        assert_problem(self, login(self.api, admin.email, "wrong-password-1", totp="123456"),
                       401, "invalid_credentials")

        # The log records every sign-in and never the secret or a code in clear text.
        events = harness.logged_events(self.db)
        mine = [e for e in events if e["stream"] == f"account-{admin.id}"]
        types = [e["type"] for e in mine]
        self.assertEqual(types[0], "account.registered")
        self.assertEqual(mine[0]["data"]["role"], "admin")
        self.assertEqual(mine[0]["actor"]["role"], "system")
        self.assertIn("account.two_factor_enabled", types)
        logins = [e["data"]["second_factor"] for e in mine if e["type"] == "account.logged_in"]
        self.assertEqual(logins, ["none", "totp", "recovery_code", "recovery_code"])
        failures = [e["data"]["reason"] for e in mine if e["type"] == "account.login_failed"]
        self.assertEqual(failures, ["totp_required", "invalid_totp", "invalid_totp",
                                    "invalid_totp", "invalid_password"])
        self.assertEqual(sum(1 for t in types if t == "account.recovery_code_used"), 2)
        raw = str(events)
        self.assertNotIn(secret, raw)
        for c in codes:
            self.assertNotIn(c, raw)
            self.assertNotIn(c.replace("-", ""), raw)
        self.assertNotIn(harness.PASSWORD, raw)

    def test_create_admin_refuses_bad_input(self):
        process = self.server
        base = [harness.BINARY, "users", "create-admin", *harness.common_flags(process.db)]
        for args, stdin in ((["--email", "not-an-email"], harness.PASSWORD + "\n"),
                            (["--email", harness.unique_email("admin")], "short\n"),
                            ([], harness.PASSWORD + "\n")):
            result = subprocess.run(base + args, input=stdin, capture_output=True, text=True,
                                    timeout=60)
            self.assertEqual(result.returncode, 2, result)
            self.assertNotIn(harness.PASSWORD, result.stdout + result.stderr)

    def test_the_checkout_wrapper_reaches_the_instance_ops_run_describes(self):
        """./counsel with no flags uses var/run.env, which ops/run writes: a copy of the wrapper
        in a scratch checkout whose run.env names this test's database creates an admin
        there."""
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        scratch = tempfile.mkdtemp(prefix="counsel-wrapper-")
        try:
            shutil.copy(os.path.join(repo, "counsel"), scratch)
            os.makedirs(os.path.join(scratch, "build", "default", "api"))
            os.symlink(harness.BINARY, os.path.join(scratch, "build", "default", "api", "counsel"))
            os.makedirs(os.path.join(scratch, "var"))
            flags = harness.common_flags(self.server.db)
            settings = {"COUNSEL_DB": self.server.db.conninfo,
                        "COUNSEL_JWT_SECRET_FILE": harness.jwt_secret_file(),
                        "COUNSEL_PASSWORD_HASH_COST": "min"}
            if harness.LOG_ENGINE == "kafka":
                settings["COUNSEL_LOG"] = "kafka"
                settings["COUNSEL_KAFKA_BROKERS"] = flags[flags.index("--kafka-brokers") + 1]
                settings["COUNSEL_KAFKA_CONFIG"] = flags[flags.index("--kafka-config") + 1]
            else:
                settings["COUNSEL_LOG"] = "postgres"
            with open(os.path.join(scratch, "var", "run.env"), "w", encoding="utf-8") as f:
                f.writelines(f"{k}={v}\n" for k, v in settings.items())
            env = {k: v for k, v in os.environ.items() if not k.startswith("COUNSEL_")}
            env["COUNSEL_PRESET"] = "default"
            email = harness.unique_email("admin")
            result = subprocess.run([os.path.join(scratch, "counsel"), "users", "create-admin",
                                     "--email", email], input=harness.PASSWORD + "\n",
                                    capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(result.returncode, 0, result)
            self.assertIn(f"created admin {email}", result.stdout)
            self.assertEqual(login(self.api, email).status, 200)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def test_a_client_may_enable_two_factor_too(self):
        client = self.api.new_user("client")
        setup = client.post("/api/v1/auth/2fa/setup")
        self.assertEqual(setup.status, 200, setup)
        client.totp_secret = setup.body["secret"]
        self.assertEqual(client.post("/api/v1/auth/2fa/confirm",
                                     {"totp": next_code(client)}).status, 200)
        assert_problem(self, login(self.api, client.email), 401, "totp_required")
        self.assertEqual(login(self.api, client.email, totp=next_code(client)).status, 200)

    # --- admin decisions

    def test_suspension_locks_a_user_out_at_once_everywhere(self):
        admin = self.api.admin()
        client = self.api.new_user("client")
        first = login(self.api, client.email)
        refresh_token = first.body["refresh_token"]
        self.assertEqual(client.get(ME).status, 200)
        self.assertEqual(self.other_api.get(ME, token=client.token).status, 200)

        for who in (client, self.api.new_user("counselor")):
            assert_problem(self, who.post(f"/api/v1/admin/users/{client.id}/suspend"), 403,
                           "forbidden")
        suspended = admin.post(f"/api/v1/admin/users/{client.id}/suspend",
                               {"reason": "Abusive messages to counsellors"})
        self.assertEqual(suspended.status, 200, suspended)
        self.assertEqual(suspended.body["status"], "suspended")
        # At once on this api process ...
        assert_problem(self, client.get(ME), 403, "account_suspended")
        # ... and on the other one (its gate follows NOTIFY; allow the delivery a moment).
        harness.wait_until(
            lambda: self.other_api.get(ME, token=client.token).status == 403, timeout=2,
            what="the other api process refusing the suspended user's token")
        assert_problem(self, login(self.api, client.email), 403, "account_suspended")
        refreshed = self.api.post("/api/v1/auth/refresh", {"refresh_token": refresh_token})
        self.assertIn(refreshed.status, (401, 403), refreshed)
        # Suspending twice is harmless.
        self.assertEqual(admin.post(f"/api/v1/admin/users/{client.id}/suspend").status, 200)

        reinstated = admin.post(f"/api/v1/admin/users/{client.id}/reinstate")
        self.assertEqual(reinstated.status, 200, reinstated)
        self.assertEqual(reinstated.body["status"], "active")
        # Tokens from before the suspension stay dead; a new sign-in works.
        assert_problem(self, client.get(ME), 401, "invalid_token")
        time.sleep(1.1)  # token times have whole seconds
        again = login(self.api, client.email)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(self.api.get(ME, token=again.body["access_token"]).status, 200)

        events = harness.logged_events(self.db)
        mine = [e for e in events if e["stream"] == f"account-{client.id}"]
        types = [e["type"] for e in mine]
        self.assertEqual(types.count("account.suspended"), 1, types)
        self.assertEqual(types.count("account.reinstated"), 1, types)
        suspension = next(e for e in mine if e["type"] == "account.suspended")
        self.assertEqual(suspension["actor"], {"id": admin.id, "role": "admin"})
        self.assertTrue(suspension["data"]["reason"].startswith("enc:v1:"), suspension)
        self.assertNotIn("Abusive messages", str(events))
        self.assertIn("suspended", [e["data"]["reason"] for e in mine
                                    if e["type"] == "account.login_failed"])

    def test_unknown_users_and_bad_ids(self):
        admin = self.api.admin()
        for path in ("/api/v1/admin/users/00000000-0000-7000-8000-000000000000/verify",
                     "/api/v1/admin/users/not-a-uuid/suspend"):
            assert_problem(self, admin.post(path), 404, "user_not_found")
        client = self.api.new_user("client")
        assert_problem(self, admin.post(f"/api/v1/admin/users/{client.id}/suspend",
                                        {"reason": 42}), 400, "invalid_reason")
        assert_problem(self, admin.post(f"/api/v1/admin/users/{admin.id}/suspend"), 422,
                       "cannot_change_own_status")

    def test_only_verified_counsellors_are_listed_and_bookable(self):
        admin = self.api.admin()
        counselor = harness.ready_counselor(self.api, verified=False)
        client = self.api.new_user("client")
        start = harness.weekday_at(10)

        def listed():
            found = client.get("/api/v1/counselors?per_page=100",
                               consistency=counselor.consistency)
            self.assertEqual(found.status, 200, found)
            return counselor.id in [c["id"] for c in found.body["results"]]

        self.assertFalse(listed())
        assert_problem(self, client.get(f"/api/v1/counselors/{counselor.id}"), 404,
                       "counselor_not_found")
        assert_problem(self, client.get(f"/api/v1/counselors/{counselor.id}/slots"), 404,
                       "counselor_not_found")
        own = counselor.get(f"/api/v1/counselors/{counselor.id}")
        self.assertEqual(own.status, 200, own)
        self.assertFalse(own.body["verified"])
        assert_problem(self, harness.book(client, counselor.id, start), 422,
                       "counselor_not_verified")

        verified = admin.post(f"/api/v1/admin/users/{counselor.id}/verify")
        self.assertEqual(verified.status, 200, verified)
        self.assertTrue(verified.body["verified"])
        counselor.consistency = verified.header("Consistency-Token")
        self.assertTrue(listed())
        self.assertTrue(client.get(f"/api/v1/counselors/{counselor.id}").body["verified"])
        self.assertTrue(client.get(f"/api/v1/users/{counselor.id}").body["verified"])
        self.assertTrue(counselor.get(ME).body["verified"])
        booked = harness.book(client, counselor.id, start)
        self.assertEqual(booked.status, 201, booked)

        suspended = admin.post(f"/api/v1/admin/users/{counselor.id}/suspend")
        self.assertEqual(suspended.status, 200, suspended)
        counselor.consistency = suspended.header("Consistency-Token")
        self.assertFalse(listed())
        assert_problem(self, harness.book(client, counselor.id, harness.weekday_at(14)), 422,
                       "counselor_suspended")
        reinstated = admin.post(f"/api/v1/admin/users/{counselor.id}/reinstate")
        self.assertEqual(reinstated.status, 200, reinstated)
        counselor.consistency = reinstated.header("Consistency-Token")
        self.assertTrue(listed())

    def test_admins_create_compliance_accounts(self):
        admin = self.api.admin()
        email = harness.unique_email("compliance")
        body = {"email": email, "password": harness.PASSWORD, "display_name": "Audit Officer",
                "role": "compliance"}
        for who in (self.api.new_user("client"), self.api.new_user("counselor")):
            assert_problem(self, who.post("/api/v1/admin/users", body), 403, "forbidden")
        assert_problem(self, admin.post("/api/v1/admin/users", {**body, "role": "admin"}), 400,
                       "invalid_role")
        assert_problem(self, admin.post("/api/v1/admin/users", {**body, "password": "short"}),
                       400, "invalid_password")
        created = admin.post("/api/v1/admin/users", body)
        self.assertEqual(created.status, 201, created)
        self.assertEqual(created.body["role"], "compliance")
        assert_problem(self, admin.post("/api/v1/admin/users", body), 409, "email_taken")
        # Self-registration never hands out staff roles.
        assert_problem(self, self.api.register(role="compliance"), 400, "invalid_role")
        assert_problem(self, self.api.register(role="admin"), 400, "invalid_role")

        officer = self.api.login(email, consistency=created.header("Consistency-Token"))
        self.assertEqual(officer.status, 200, officer)
        self.assertEqual(officer.body["user"]["role"], "compliance")
        token = officer.body["access_token"]
        assert_problem(self, self.api.get(ME, token=token), 403, "two_factor_setup_required")
        self.assertEqual(self.api.post("/api/v1/auth/2fa/setup", token=token).status, 200)
        registered = [e for e in harness.logged_events(self.db)
                      if e["type"] == "account.registered" and e["data"]["user_id"]
                      == created.body["id"]]
        self.assertEqual(len(registered), 1)
        self.assertEqual(registered[0]["actor"], {"id": admin.id, "role": "admin"})


if __name__ == "__main__":
    harness.main()
