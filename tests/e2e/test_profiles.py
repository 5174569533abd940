"""Client profiles and anonymous mode over HTTP (issue 4): the owner's PUT/GET round trip, every
validation rule answered with a 400 that names the field, what other clients, counsellors and
admins may see of a client, the alias standing in for the real name everywhere a counsellor or
another user looks, an admin's recorded look behind the alias, and an audit stream that holds
none of the profile's personal fields in clear text."""

import json
import unittest
import urllib.parse
import uuid

import harness
from harness import assert_problem

OWNER_VIEW_FIELDS = {"id", "display_name", "email", "picture_url", "bio", "address",
                     "preferences", "preferred_language", "anonymous", "alias", "updated_at"}
USER_FULL_FIELDS = {"id", "email", "role", "display_name", "status", "created_at", "verified",
                    "two_factor_enabled", "anonymous", "alias"}


def marker(label):
    """A value unlikely to appear anywhere by chance, to search responses and the log for."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def full_profile(**overrides):
    body = {
        "picture_url": f"https://images.example.org/{marker('pic')}.png",
        "bio": f"Teacher from Durban, likes hiking. {marker('bio')}",
        "address": f"12 Florida Road, Morningside, Durban {marker('addr')}",
        "preferences": {"session_mode": "video", "reminders": True,
                        "note": marker("pref"), "times": ["morning", "evening"]},
        "preferred_language": "zu",
        "anonymous": False,
        "alias": f"Heron {uuid.uuid4().hex[:6]}",
    }
    body.update(overrides)
    return body


class ProfilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("profiles")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def put_profile(self, client, body, expect=200):
        response = client.put(f"/api/v1/clients/{client.id}", body)
        self.assertEqual(response.status, expect, response)
        return response

    def assert_validation(self, client, body, field):
        response = client.put(f"/api/v1/clients/{client.id}", body)
        problem = assert_problem(self, response, 400, "validation_failed")
        self.assertEqual(problem.get("field"), field, f"{body!r} -> {response!r}")

    def reveals_of(self, client):
        return [e for e in harness.logged_events(self.db)
                if e["type"] == "account.identity_revealed" and e["data"]["user_id"] == client.id]

    def booked_pair(self, client_name="Lindiwe Nkosi"):
        """A client with a booking with a verified counsellor; the counsellor has read it."""
        counselor = harness.ready_counselor(self.api)
        client = self.api.new_user("client", display_name=client_name)
        booked = client.post("/api/v1/sessions", {
            "counselor_id": counselor.id, "start": harness.iso(harness.weekday_at(10)),
            "duration_minutes": 60, "topic": "", "mode": "video"},
            consistency=counselor.consistency)
        self.assertEqual(booked.status, 201, booked)
        counselor.consistency = booked.header("Consistency-Token")
        return client, counselor, booked.body["id"]

    # --- the owner

    def test_owner_round_trip(self):
        client = self.api.new_user("client", display_name="Ayanda Zulu")

        # A client who never saved a profile has the empty one.
        empty = client.get(f"/api/v1/clients/{client.id}")
        self.assertEqual(empty.status, 200, empty)
        self.assertEqual(set(empty.body), OWNER_VIEW_FIELDS)
        self.assertEqual(empty.body["id"], client.id)
        self.assertEqual(empty.body["display_name"], "Ayanda Zulu")
        self.assertEqual(empty.body["email"], client.email)
        for field in ("picture_url", "bio", "address", "preferences", "preferred_language",
                      "alias", "updated_at"):
            self.assertIsNone(empty.body[field], field)
        self.assertIs(empty.body["anonymous"], False)

        body = full_profile(preferred_language="en-ZA")
        saved = self.put_profile(client, body)
        self.assertTrue(saved.header("Consistency-Token"), "commands return a Consistency-Token")
        self.assertEqual(set(saved.body), OWNER_VIEW_FIELDS)
        for field in ("picture_url", "bio", "address", "preferences", "preferred_language",
                      "anonymous", "alias"):
            self.assertEqual(saved.body[field], body[field], field)
        self.assertEqual(saved.body["display_name"], "Ayanda Zulu")
        harness.parse_time(saved.body["updated_at"])

        read = client.get(f"/api/v1/clients/{client.id}")
        self.assertEqual(read.status, 200, read)
        self.assertEqual(read.body, saved.body)

        # What GET gives may be sent back as is (its read-only members are ignored).
        echoed = self.put_profile(client, read.body)
        self.assertEqual({k: v for k, v in echoed.body.items() if k != "updated_at"},
                         {k: v for k, v in read.body.items() if k != "updated_at"})

        # PUT replaces the whole profile: what is left out is cleared.
        replaced = self.put_profile(client, {"bio": "Just the bio now."})
        self.assertEqual(replaced.body["bio"], "Just the bio now.")
        for field in ("picture_url", "address", "preferences", "preferred_language", "alias"):
            self.assertIsNone(replaced.body[field], field)
        self.assertIs(replaced.body["anonymous"], False)
        self.assertEqual(client.get(f"/api/v1/clients/{client.id}").body, replaced.body)

        # Case-insensitive language tags are stored in their usual case.
        self.assertEqual(self.put_profile(client, {"preferred_language": "EN-za"})
                         .body["preferred_language"], "en-ZA")

        me = client.get("/api/v1/me")
        self.assertEqual(me.status, 200, me)
        self.assertEqual(set(me.body), USER_FULL_FIELDS)
        self.assertEqual(me.body["display_name"], "Ayanda Zulu")
        self.assertIs(me.body["anonymous"], False)
        self.assertIs(me.body["verified"], False)
        self.assertIs(me.body["two_factor_enabled"], False)
        self.assertEqual(client.get(f"/api/v1/users/{client.id}").body, me.body)

    def test_every_validation_rule_names_its_field(self):
        client = self.api.new_user("client")
        cases = [
            ({"picture_url": "ftp://example.org/a.png"}, "picture_url"),
            ({"picture_url": "javascript:alert(1)"}, "picture_url"),
            ({"picture_url": "/relative/a.png"}, "picture_url"),
            ({"picture_url": "https://example.org/a b.png"}, "picture_url"),
            ({"picture_url": "https://example.org/" + "a" * 2030}, "picture_url"),  # 2050
            ({"picture_url": 42}, "picture_url"),
            ({"bio": "b" * 2001}, "bio"),
            ({"bio": ["not", "text"]}, "bio"),
            ({"bio": "nul \u0000 inside"}, "bio"),
            ({"address": "a" * 501}, "address"),
            ({"address": 7}, "address"),
            ({"preferences": ["a", "list"]}, "preferences"),
            ({"preferences": "text"}, "preferences"),
            ({"preferences": {"blob": "x" * 9000}}, "preferences"),
            ({"preferences": {"nul": "\u0000"}}, "preferences"),
            ({"preferred_language": "english"}, "preferred_language"),
            ({"preferred_language": "e"}, "preferred_language"),
            ({"preferred_language": "en_ZA"}, "preferred_language"),
            ({"preferred_language": "en-ZAF"}, "preferred_language"),
            ({"preferred_language": "z1"}, "preferred_language"),
            ({"preferred_language": 5}, "preferred_language"),
            ({"anonymous": "yes"}, "anonymous"),
            ({"anonymous": 1}, "anonymous"),
            ({"anonymous": True}, "alias"),
            ({"anonymous": True, "alias": "   "}, "alias"),
            ({"alias": " a "}, "alias"),
            ({"alias": "x" * 41}, "alias"),
            ({"alias": "two\nlines"}, "alias"),
            ({"alias": 12}, "alias"),
            ({"favourite_colour": "blue"}, "favourite_colour"),
        ]
        for body, field in cases:
            with self.subTest(field=field, body=repr(body)[:80]):
                self.assert_validation(client, body, field)
        assert_problem(self, client.put(f"/api/v1/clients/{client.id}", raw=b"[1, 2]"), 400,
                       "invalid_json")

        # The limits themselves are accepted.
        at_limits = {
            "picture_url": "http://example.org/" + "p" * (2048 - len("http://example.org/")),
            "bio": "b" * 2000, "address": "a" * 500, "preferred_language": "nso",
            "preferences": {"blob": "x" * 2000}, "anonymous": True, "alias": "x" * 40}
        saved = self.put_profile(client, at_limits)
        for field, value in at_limits.items():
            self.assertEqual(saved.body[field], value, field)
        self.assertEqual(self.put_profile(client, {"alias": "  Jo  "}).body["alias"], "Jo")
        # Nothing invalid was stored along the way.
        self.assertEqual(client.get(f"/api/v1/clients/{client.id}").body["alias"], "Jo")

    # --- other callers

    def test_others_cannot_change_or_see_a_profile(self):
        owner = self.api.new_user("client", display_name="Palesa Mahlangu")
        self.put_profile(owner, full_profile())
        other = self.api.new_user("client")
        counselor = self.api.new_user("counselor")

        body = {"bio": "written by someone else"}
        assert_problem(self, other.put(f"/api/v1/clients/{owner.id}", body,
                                       consistency=owner.consistency), 403, "forbidden")
        assert_problem(self, counselor.put(f"/api/v1/clients/{owner.id}", body,
                                           consistency=owner.consistency), 403, "forbidden")
        # Ids that are not clients.
        for path_id in (counselor.id, str(uuid.uuid4()), "not-a-uuid"):
            assert_problem(self, other.put(f"/api/v1/clients/{path_id}", body,
                                           consistency=counselor.consistency),
                           404, "client_not_found")
        assert_problem(self, counselor.put(f"/api/v1/clients/{counselor.id}", body), 404,
                       "client_not_found")

        # Reading: another client and a counsellor without a session get the same 404 as an
        # unknown id, so ids reveal nothing.
        for reader in (other, counselor):
            response = reader.get(f"/api/v1/clients/{owner.id}", consistency=owner.consistency)
            assert_problem(self, response, 404, "client_not_found")
            self.assertNotIn("Palesa", response.text)
        assert_problem(self, other.get(f"/api/v1/clients/{uuid.uuid4()}"), 404,
                       "client_not_found")
        assert_problem(self, other.get(f"/api/v1/clients/{counselor.id}",
                                       consistency=counselor.consistency), 404,
                       "client_not_found")
        self.assertEqual(self.api.get(f"/api/v1/clients/{owner.id}").status, 401)

        # The owner's profile is unchanged.
        self.assertNotEqual(owner.get(f"/api/v1/clients/{owner.id}").body["bio"], body["bio"])

        # The public view of a user: id, role, name; a counsellor's also says if verified.
        public = other.get(f"/api/v1/users/{owner.id}", consistency=owner.consistency)
        self.assertEqual(public.status, 200, public)
        self.assertEqual(public.body, {"id": owner.id, "role": "client",
                                       "display_name": "Palesa Mahlangu"})
        public = other.get(f"/api/v1/users/{counselor.id}", consistency=counselor.consistency)
        self.assertEqual(public.body, {"id": counselor.id, "role": "counselor",
                                       "display_name": "Test Counselor", "verified": False})
        assert_problem(self, other.get(f"/api/v1/users/{uuid.uuid4()}"), 404, "user_not_found")

    # --- a counsellor, anonymity and the admin

    def test_anonymous_client_is_only_the_alias_to_others(self):
        real_name = f"Nomvula Dube {uuid.uuid4().hex[:6]}"
        client, counselor, session_id = self.booked_pair(client_name=real_name)
        profile = full_profile()
        self.put_profile(client, profile)

        # A counsellor with a session sees a reduced view of a client who is not anonymous.
        seen = counselor.get(f"/api/v1/clients/{client.id}", consistency=client.consistency)
        self.assertEqual(seen.status, 200, seen)
        self.assertEqual(seen.body, {
            "id": client.id, "display_name": real_name, "picture_url": profile["picture_url"],
            "bio": profile["bio"], "preferred_language": "zu", "anonymous": False})

        # The client turns anonymous.
        alias = f"Blue Heron {uuid.uuid4().hex[:4]}"
        profile = dict(profile, anonymous=True, alias=alias)
        anonymous = self.put_profile(client, profile)
        self.assertEqual(anonymous.body["display_name"], real_name, "the owner sees their name")
        self.assertEqual(anonymous.body["alias"], alias)
        token = client.consistency

        reduced = counselor.get(f"/api/v1/clients/{client.id}", consistency=token)
        self.assertEqual(reduced.status, 200, reduced)
        self.assertEqual(reduced.body, {"id": client.id, "display_name": alias,
                                        "anonymous": True, "preferred_language": "zu"})
        other_client = self.api.new_user("client")
        responses = [
            reduced,
            counselor.get(f"/api/v1/users/{client.id}", consistency=token),
            other_client.get(f"/api/v1/users/{client.id}", consistency=token),
            counselor.get("/api/v1/sessions", consistency=token),
            counselor.get(f"/api/v1/sessions/{session_id}", consistency=token),
        ]
        for response in responses:
            self.assertEqual(response.status, 200, response)
            for secret in (real_name, "Nomvula", client.email, profile["address"],
                           profile["bio"], profile["picture_url"]):
                self.assertNotIn(secret, response.text, response)
        for public in responses[1:3]:
            self.assertEqual(public.body, {"id": client.id, "role": "client",
                                           "display_name": alias})

        # The admin sees the alias unless they give a reason, and the reason is recorded first.
        admin = self.api.admin()
        hidden = admin.get(f"/api/v1/users/{client.id}", consistency=token)
        self.assertEqual(hidden.status, 200, hidden)
        self.assertEqual(hidden.body, {"id": client.id, "role": "client", "display_name": alias,
                                       "anonymous": True, "identity_hidden": True})
        hidden_profile = admin.get(f"/api/v1/clients/{client.id}", consistency=token)
        self.assertEqual(hidden_profile.status, 200, hidden_profile)
        self.assertIs(hidden_profile.body["identity_hidden"], True)
        for response in (hidden, hidden_profile):
            for secret in (real_name, client.email, profile["address"]):
                self.assertNotIn(secret, response.text, response)
        for bad_reason in ("", "ab", "x" * 501):
            assert_problem(self, admin.get(f"/api/v1/users/{client.id}?" + urllib.parse.urlencode(
                {"reason": bad_reason})), 400, "invalid_parameter")
        self.assertEqual(self.reveals_of(client), [], "a look without a reason is no reveal")

        reason = f"Safeguarding report {marker('reason')}"
        revealed = admin.get(f"/api/v1/users/{client.id}?"
                             + urllib.parse.urlencode({"reason": reason}))
        self.assertEqual(revealed.status, 200, revealed)
        self.assertEqual(set(revealed.body), USER_FULL_FIELDS)
        self.assertEqual(revealed.body["display_name"], real_name)
        self.assertEqual(revealed.body["email"], client.email)
        self.assertEqual(revealed.body["alias"], alias)
        self.assertNotIn("identity_hidden", revealed.body)
        revealed_profile = admin.get(f"/api/v1/clients/{client.id}?"
                                     + urllib.parse.urlencode({"reason": reason}))
        self.assertEqual(revealed_profile.status, 200, revealed_profile)
        self.assertEqual(revealed_profile.body["display_name"], real_name)
        self.assertEqual(revealed_profile.body["address"], profile["address"])

        reveals = self.reveals_of(client)
        self.assertEqual(len(reveals), 2, reveals)
        for event in reveals:
            self.assertEqual(event["actor"], {"id": admin.id, "role": "admin"})
            self.assertEqual(event["data"]["user_id"], client.id)
            self.assertTrue(event["data"]["reason"].startswith("enc:v1:"), event)
        self.assertNotIn("Safeguarding", json.dumps(harness.logged_events(self.db)))

        # A client who is not anonymous needs no reason, and nothing is recorded.
        plain = self.api.new_user("client", display_name="Kagiso Molefe")
        full = admin.get(f"/api/v1/users/{plain.id}", consistency=plain.consistency)
        self.assertEqual(full.body["display_name"], "Kagiso Molefe")
        self.assertEqual(full.body["email"], plain.email)

        # Leaving anonymous mode shows the name again.
        self.put_profile(client, dict(profile, anonymous=False))
        back = counselor.get(f"/api/v1/users/{client.id}", consistency=client.consistency)
        self.assertEqual(back.body["display_name"], real_name)

    def test_events_log_holds_no_clear_text_profile(self):
        client = self.api.new_user("client")
        profile = full_profile(anonymous=True, alias=f"Kingfisher {marker('alias')}")
        self.put_profile(client, profile)
        events = harness.logged_events(self.db)
        updates = [e for e in events if e["type"] == "account.client_profile_updated"
                   and e["data"]["user_id"] == client.id]
        self.assertEqual(len(updates), 1, updates)
        data = updates[0]["data"]
        self.assertEqual(set(data), {"user_id", "picture_url", "bio", "address", "preferences",
                                     "preferred_language", "anonymous", "alias"})
        for field in ("picture_url", "bio", "address", "preferences", "alias"):
            self.assertTrue(data[field].startswith("enc:v1:"), field)
        self.assertEqual(data["preferred_language"], "zu")
        self.assertIs(data["anonymous"], True)
        raw = json.dumps(events, ensure_ascii=False)
        for value in (profile["picture_url"], profile["bio"], profile["address"],
                      profile["alias"], profile["preferences"]["note"], "Florida Road",
                      "Kingfisher"):
            self.assertNotIn(value, raw)


if __name__ == "__main__":
    harness.main()
