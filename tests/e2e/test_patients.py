"""Patient records (seed 003) over HTTP: create, every validation rule answered with a 400 that
names the field, uniqueness, filters, the custom actions, who may read and write a record, that
only the client's own sessions can be added to it, what a counsellor sees of it (a masked SSN,
and nothing identifying of an anonymous client, in reads, lists and filters), and an audit
stream that holds no personal data in clear text."""

import datetime as dt
import json
import secrets
import unittest
import uuid

import harness
from harness import assert_problem, results_of


def random_phone():
    return "+27" + "".join(secrets.choice("0123456789") for _ in range(9))


def random_id():
    return "p_" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))


def record(**overrides):
    body = {
        "id": random_id(), "password": "s3cret-pass", "first_name": "Naledi",
        "last_name": "Khumalo", "phone_no": random_phone(),
        "allergies_and_medication": "Penicillin", "date_of_birth": "1990-04-01", "sex": "F",
        "ssn": "123-45-6789", "email": "naledi@example.org", "address": "1 Long St, Cape Town",
        "added_note": "Prefers mornings", "about_note": "Teacher",
        "profile_picture": "https://example.org/naledi.png", "tags": ["new"],
        "wallet_balance": "12.50", "sessions": []}
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class PatientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("patients")
        cls.server = harness.CounselProcess("serve", cls.db, env={"COUNSEL_RATE_LIMITS": "off"})
        cls.api = harness.Api(cls.server.base_url)
        cls.admin = cls.api.admin()

    def create(self, user, **overrides):
        body = record(**overrides)
        response = user.post("/api/v1/patients", body)
        self.assertEqual(response.status, 201, response)
        return body, response.body

    def booked(self, client, counselor, hour=10):
        """A session of `client` with `counselor` (its id), visible in the read models."""
        response = harness.book(client, counselor.id, harness.weekday_at(hour))
        self.assertEqual(response.status, 201, response)
        return response.body["id"]

    def test_create_and_read_back(self):
        client = self.api.new_user("client")
        body, created = self.create(client)
        for field in ("first_name", "last_name", "phone_no", "allergies_and_medication",
                      "date_of_birth", "sex", "ssn", "email", "address", "added_note",
                      "about_note", "profile_picture", "tags"):
            self.assertEqual(created[field], body[field], field)
        self.assertEqual(created["id"], body["id"])
        self.assertEqual(created["owner_id"], client.id)
        self.assertEqual(created["wallet_balance"], "12.50")
        self.assertEqual(created["sessions"], [])
        self.assertTrue(created["created_at"] and created["updated_at"])
        self.assertNotIn("password", json.dumps(created))

        got = client.get(f"/api/v1/patients/{body['id']}")
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.body, created)
        # the seed's trailing slashes work too
        self.assertEqual(client.get(f"/api/v1/patients/{body['id']}/").status, 200)
        listed = client.get("/api/v1/patients/")
        self.assertEqual(listed.status, 200, listed)
        self.assertEqual([p["id"] for p in results_of(listed)], [body["id"]])

        # without an id one is generated; one record per client
        other = self.api.new_user("client")
        _, generated = self.create(other, id=None, ssn=None, email=None, wallet_balance=None)
        self.assertRegex(generated["id"], r"^p_[a-z0-9]{6}$")
        self.assertIsNone(generated["ssn"])
        self.assertEqual(generated["wallet_balance"], "0.00")
        again = other.post("/api/v1/patients", record())
        assert_problem(self, again, 409, "patient_exists")

    def test_every_validation_rule_names_its_field(self):
        client = self.api.new_user("client")
        too_long = "x" * 501
        future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
        cases = [
            ("id", "p_abc12"), ("id", "p_ABC123"), ("id", "x_abc123"), ("id", "p_abc1234"),
            ("password", "short"), ("password", "x" * 65), ("password", None),
            ("first_name", None), ("first_name", ""), ("last_name", None),
            ("phone_no", "12345678"), ("phone_no", "1234567890123456"),
            ("phone_no", "082-123-4567"), ("phone_no", None),
            ("allergies_and_medication", None), ("allergies_and_medication", ""),
            ("date_of_birth", None), ("date_of_birth", "01/04/1990"),
            ("date_of_birth", future), ("date_of_birth", "1990-02-30"),
            ("sex", None), ("sex", "X"), ("sex", "male"),
            ("ssn", "123456789"), ("ssn", "12-345-6789"),
            ("email", "not-an-email"),
            ("added_note", too_long), ("about_note", "y" * 251),
            ("profile_picture", "javascript:alert(1)"), ("profile_picture", "https://x.org/" + "a" * 2040),
            ("tags", "anxiety"), ("tags", [1, 2]),
            ("wallet_balance", "12.345"), ("wallet_balance", "-1.00"), ("wallet_balance", "abc"),
            ("sessions", "s-1"), ("sessions", [5]),
        ]
        for field, value in cases:
            body = record()
            if value is None:
                body.pop(field)
            else:
                body[field] = value
            response = client.post("/api/v1/patients", body)
            problem = assert_problem(self, response, 400, "validation_failed")
            self.assertEqual(problem.get("field"), field, f"{field}={value!r}: {response!r}")
            self.assertIn(field, problem["detail"], response)
        # the boundaries themselves are fine
        ok = client.post("/api/v1/patients", record(
            password="x" * 64, added_note="n" * 500, about_note="a" * 250,
            phone_no="123456789", date_of_birth=dt.date.today().isoformat(), sex="P",
            wallet_balance=7.5))
        self.assertEqual(ok.status, 201, ok)
        self.assertEqual(ok.body["wallet_balance"], "7.50")
        # PATCH checks what it is given, and action bodies are checked too
        pid = ok.body["id"]
        for path, body, field in [
                (f"/api/v1/patients/{pid}", {"phone_no": "12"}, "phone_no"),
                (f"/api/v1/patients/{pid}/add_tag", {}, "tag"),
                (f"/api/v1/patients/{pid}/add_tag", {"tag": ""}, "tag"),
                (f"/api/v1/patients/{pid}/add_session", {}, "session_id"),
                (f"/api/v1/patients/{pid}/update_wallet", {"amount": "1.001"}, "amount"),
                (f"/api/v1/patients/{pid}/update_wallet", {}, "amount")]:
            method = "PATCH" if path.endswith(pid) else "POST"
            response = client.call(method, path, body)
            problem = assert_problem(self, response, 400, "validation_failed")
            self.assertEqual(problem.get("field"), field, response)

    def test_phone_numbers_are_unique(self):
        first, second = self.api.new_user("client"), self.api.new_user("client")
        phone = random_phone()
        body, _ = self.create(first, phone_no=phone)
        taken = second.post("/api/v1/patients", record(phone_no=phone))
        assert_problem(self, taken, 409, "phone_taken")
        taken = second.post("/api/v1/patients", record(phone_no=phone.lstrip("+")))
        assert_problem(self, taken, 409, "phone_taken")
        same_id = second.post("/api/v1/patients", record(id=body["id"]))
        assert_problem(self, same_id, 409, "patient_exists")
        # the refused attempts released their claims: the second client can still register
        _, created = self.create(second)
        # changing a number frees the old one
        moved = first.call("PATCH", f"/api/v1/patients/{body['id']}",
                           {"phone_no": random_phone()})
        self.assertEqual(moved.status, 200, moved)
        clash = first.call("PATCH", f"/api/v1/patients/{body['id']}",
                           {"phone_no": created["phone_no"]})
        assert_problem(self, clash, 409, "phone_taken")
        third = self.api.new_user("client")
        self.create(third, phone_no=phone)

    def test_custom_actions_and_updates(self):
        client = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        first_session = self.booked(client, counselor, hour=10)
        second_session = self.booked(client, counselor, hour=13)
        body, _ = self.create(client, tags=["new"], wallet_balance="10.00")
        path = f"/api/v1/patients/{body['id']}"

        tagged = client.post(path + "/add_tag/", {"tag": "anxiety"})
        self.assertEqual(tagged.status, 200, tagged)
        self.assertEqual(tagged.body["tags"], ["new", "anxiety"])
        twice = client.post(path + "/add_tag", {"tag": "anxiety"})
        self.assertEqual(twice.body["tags"], ["new", "anxiety"])
        untagged = client.post(path + "/remove_tag", {"tag": "new"})
        self.assertEqual(untagged.status, 200, untagged)
        self.assertEqual(untagged.body["tags"], ["anxiety"])

        with_session = client.post(path + "/add_session", {"session_id": first_session})
        self.assertEqual(with_session.status, 200, with_session)
        with_object = client.post(path + "/add_session",
                                  {"session": {"session_id": second_session, "date": "2026-03-01"}})
        self.assertEqual(with_object.status, 200, with_object)
        self.assertEqual(with_object.body["sessions"],
                         [{"session_id": first_session},
                          {"date": "2026-03-01", "session_id": second_session}])

        paid = client.post(path + "/update_wallet", {"amount": "5.25"})
        self.assertEqual(paid.status, 200, paid)
        self.assertEqual(paid.body["wallet_balance"], "15.25")
        spent = client.post(path + "/update_wallet", {"amount": -15.25})
        self.assertEqual(spent.body["wallet_balance"], "0.00")
        broke = client.post(path + "/update_wallet", {"amount": "-0.01"})
        assert_problem(self, broke, 422, "insufficient_balance")

        patched = client.call("PATCH", path, {"about_note": "Runner", "email": ""})
        self.assertEqual(patched.status, 200, patched)
        self.assertEqual(patched.body["about_note"], "Runner")
        self.assertIsNone(patched.body["email"])
        self.assertEqual(patched.body["first_name"], "Naledi")
        partial_put = client.put(path, {"first_name": "Lerato"})
        assert_problem(self, partial_put, 400, "validation_failed")
        full = record(first_name="Lerato", phone_no=patched.body["phone_no"])
        put = client.put(path, full)
        self.assertEqual(put.status, 200, put)
        self.assertEqual(put.body["first_name"], "Lerato")
        self.assertEqual(put.body["id"], body["id"], "PUT does not change the id")

        deleted = client.call("DELETE", path)
        self.assertEqual(deleted.status, 204, deleted)
        assert_problem(self, client.get(path), 404, "patient_not_found")
        # the client may create a new record (with the same number) after deleting the old one
        self.create(client, phone_no=body["phone_no"])

    def test_who_may_read_and_write(self):
        owner = self.api.new_user("client")
        stranger = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        other_counselor = harness.ready_counselor(self.api)
        booked = harness.book(owner, counselor.id, harness.weekday_at(10))
        self.assertEqual(booked.status, 201, booked)
        body, _ = self.create(owner)
        path = f"/api/v1/patients/{body['id']}"
        counselor.consistency = owner.consistency

        for reader in (owner, counselor, self.admin):
            got = reader.get(path, consistency=owner.consistency)
            self.assertEqual(got.status, 200, f"{reader.role}: {got!r}")
        for outsider in (stranger, other_counselor):
            got = outsider.get(path, consistency=owner.consistency)
            assert_problem(self, got, 404, "patient_not_found")
            patch = outsider.call("PATCH", path, {"about_note": "x"},
                                  consistency=owner.consistency)
            assert_problem(self, patch, 404, "patient_not_found")
            listed = outsider.get("/api/v1/patients", consistency=owner.consistency)
            self.assertNotIn(body["id"], [p["id"] for p in results_of(listed)])

        counselor_list = counselor.get("/api/v1/patients", consistency=owner.consistency)
        self.assertEqual([p["id"] for p in results_of(counselor_list)], [body["id"]])
        admin_list = self.admin.get("/api/v1/patients?per_page=100", consistency=owner.consistency)
        self.assertIn(body["id"], [p["id"] for p in results_of(admin_list)])

        # counsellors annotate (tags, sessions) but do not edit, untag or pay
        self.assertEqual(counselor.post(path + "/add_tag", {"tag": "anxiety"}).status, 200)
        self.assertEqual(counselor.post(path + "/add_session",
                                        {"session_id": booked.body["id"]}).status, 200)
        for method, suffix, payload in [("PATCH", "", {"about_note": "x"}),
                                        ("POST", "/remove_tag", {"tag": "anxiety"}),
                                        ("POST", "/update_wallet", {"amount": "1"}),
                                        ("DELETE", "", None)]:
            response = counselor.call(method, path + suffix, payload)
            assert_problem(self, response, 403, "not_patient_owner")
        # a counsellor cannot create records; an admin creates one
        # for a client
        assert_problem(self, counselor.post("/api/v1/patients", record()), 403,
                       "patient_create_forbidden")
        for_stranger = self.admin.post("/api/v1/patients", record(owner_id=stranger.id))
        self.assertEqual(for_stranger.status, 201, for_stranger)
        self.assertEqual(for_stranger.body["owner_id"], stranger.id)
        no_owner = self.admin.post("/api/v1/patients", record())
        self.assertEqual(assert_problem(self, no_owner, 400, "validation_failed")["field"],
                         "owner_id")
        not_client = self.admin.post("/api/v1/patients", record(owner_id=counselor.id))
        self.assertEqual(assert_problem(self, not_client, 400, "validation_failed")["field"],
                         "owner_id")
        by_admin = self.admin.call("PATCH", path, {"about_note": "Seen by admin"})
        self.assertEqual(by_admin.status, 200, by_admin)
        # a client cannot put their record under someone else
        hijack = stranger.post("/api/v1/patients", record(owner_id=owner.id))
        assert_problem(self, hijack, 403, "not_patient_owner")
        self.assertEqual(self.api.get(path).status, 401)

    def test_add_session_takes_only_the_clients_own_sessions(self):
        owner = self.api.new_user("client")
        stranger = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        other_counselor = harness.ready_counselor(self.api)
        with_counselor = self.booked(owner, counselor, hour=10)
        with_other_counselor = self.booked(owner, other_counselor, hour=13)
        strangers = self.booked(stranger, counselor, hour=15)
        # The refusals below must come from whose session it is, not from a lagging read model.
        harness.wait_visible(stranger, strangers, stranger.consistency)
        harness.wait_visible(owner, with_counselor, owner.consistency)
        harness.wait_visible(owner, with_other_counselor, owner.consistency)
        body, _ = self.create(owner)
        path = f"/api/v1/patients/{body['id']}"

        for payload, field in [({"session_id": str(uuid.uuid4())}, "session_id"),
                               ({"session_id": "s-100"}, "session_id"),
                               ({"session_id": strangers}, "session_id"),
                               ({"session": {"session_id": strangers, "date": "2026-03-01"}},
                                "session")]:
            refused = owner.post(path + "/add_session", payload)
            problem = assert_problem(self, refused, 422, "unknown_session")
            self.assertEqual(problem.get("field"), field, refused)
        no_id = owner.post(path + "/add_session", {"session": {"date": "2026-03-01"}})
        self.assertEqual(assert_problem(self, no_id, 400, "validation_failed")["field"],
                         "session")

        # A counsellor adds only their own sessions with this client; the answer is the same
        # for the client's session with another counsellor and their own with another client.
        counselor.consistency = owner.consistency
        for session_id in (with_other_counselor, strangers):
            refused = counselor.post(path + "/add_session", {"session_id": session_id})
            assert_problem(self, refused, 422, "unknown_session")
        added = counselor.post(path + "/add_session", {"session_id": with_counselor})
        self.assertEqual(added.status, 200, added)
        self.assertEqual(added.body["sessions"], [{"session_id": with_counselor}])

        # The client adds any of their own; the same session spelled differently is not added
        # twice; an admin is held to the client's sessions too.
        owner.consistency = counselor.consistency
        added = owner.post(path + "/add_session", {"session_id": with_other_counselor})
        self.assertEqual(added.status, 200, added)
        again = owner.post(path + "/add_session", {"session_id": with_counselor.upper()})
        self.assertEqual(again.status, 200, again)
        both = [{"session_id": with_counselor}, {"session_id": with_other_counselor}]
        self.assertEqual(again.body["sessions"], both)
        assert_problem(self, self.admin.post(path + "/add_session", {"session_id": strangers},
                                             consistency=owner.consistency),
                       422, "unknown_session")

        # A sessions array given to PATCH, PUT or create follows the same rule.
        patched = owner.call("PATCH", path, {"sessions": [with_other_counselor, strangers]})
        self.assertEqual(assert_problem(self, patched, 422, "unknown_session")["field"],
                         "sessions")
        kept = owner.call("PATCH", path, {"sessions": again.body["sessions"]})
        self.assertEqual(kept.status, 200, kept)
        self.assertEqual(kept.body["sessions"], both)
        newcomer = self.api.new_user("client")
        assert_problem(self, newcomer.post("/api/v1/patients", record(sessions=[strangers])),
                       422, "unknown_session")
        self.create(newcomer)  # the refused attempt reserved nothing

    def test_counselors_see_the_ssn_masked(self):
        owner = self.api.new_user("client")
        without_ssn = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        self.booked(owner, counselor, hour=10)
        self.booked(without_ssn, counselor, hour=13)
        ssn = "{:03d}-{:02d}-{:04d}".format(secrets.randbelow(900) + 100,
                                            secrets.randbelow(90) + 10,
                                            secrets.randbelow(9000) + 1000)
        body, _ = self.create(owner, ssn=ssn)
        other_body, _ = self.create(without_ssn, ssn=None)
        path = f"/api/v1/patients/{body['id']}"
        counselor.consistency = owner.consistency

        got = counselor.get(path)
        listed = counselor.get("/api/v1/patients", consistency=without_ssn.consistency)
        tagged = counselor.post(path + "/add_tag", {"tag": "follow-up"})
        for response in (got, listed, tagged):
            self.assertEqual(response.status, 200, response)
            self.assertNotIn(ssn, response.text, response)
        self.assertEqual(got.body["ssn"], "***-**-****")
        self.assertEqual(tagged.body["ssn"], "***-**-****")
        by_id = {p["id"]: p for p in results_of(listed)}
        self.assertEqual(set(by_id), {body["id"], other_body["id"]})
        self.assertEqual(by_id[body["id"]]["ssn"], "***-**-****")
        self.assertIsNone(by_id[other_body["id"]]["ssn"], "no SSN on file: nothing to mask")
        # the rest of a client's record who is not anonymous is the counsellor's to read
        for field in ("first_name", "last_name", "phone_no", "email", "date_of_birth"):
            self.assertEqual(got.body[field], body[field], field)

        for reader in (owner, self.admin):
            full = reader.get(path, consistency=counselor.consistency)
            self.assertEqual(full.status, 200, full)
            self.assertEqual(full.body["ssn"], ssn, reader.role)
        own_list = owner.get("/api/v1/patients")
        self.assertEqual([p["ssn"] for p in results_of(own_list)], [ssn])
        admin_list = self.admin.get(f"/api/v1/patients?phone={body['phone_no'][1:]}")
        self.assertEqual([p["ssn"] for p in results_of(admin_list)], [ssn])

    def test_an_anonymous_client_is_only_the_alias_to_counselors(self):
        marker = uuid.uuid4().hex[:8]
        owner = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        self.booked(owner, counselor)
        phone = random_phone()
        body, _ = self.create(
            owner, first_name=f"Thandiwe{marker}", last_name=f"Mokoena{marker}", phone_no=phone,
            email=f"thandiwe.{marker}@example.org", address=f"{marker} Vilakazi St, Soweto",
            ssn="321-54-9876", date_of_birth="1987-11-23", about_note=f"Nurse {marker}",
            profile_picture=f"https://example.org/{marker}.png")
        path = f"/api/v1/patients/{body['id']}"
        counselor.consistency = owner.consistency

        def counselor_finds(query):
            response = counselor.get("/api/v1/patients?" + query)
            self.assertEqual(response.status, 200, response)
            return [p["id"] for p in results_of(response)]

        real_name_query = f"name=thandiwe{marker}"
        phone_query = "phone=" + phone[-9:]
        self.assertEqual(counselor_finds(real_name_query), [body["id"]])
        self.assertEqual(counselor_finds(phone_query), [body["id"]])

        turned = owner.put(f"/api/v1/clients/{owner.id}", {"anonymous": True, "alias": "River"})
        self.assertEqual(turned.status, 200, turned)
        counselor.consistency = owner.consistency

        got = counselor.get(path)
        listed = counselor.get("/api/v1/patients")
        tagged = counselor.post(path + "/add_tag", {"tag": "anxiety"})
        identifying = (f"Thandiwe{marker}", f"Mokoena{marker}", phone, phone.lstrip("+"),
                       body["email"], body["address"], body["ssn"], body["date_of_birth"],
                       body["about_note"], body["profile_picture"])
        for response in (got, listed, tagged):
            self.assertEqual(response.status, 200, response)
            for secret in identifying:
                self.assertNotIn(secret, response.text, response)
        self.assertEqual([p["id"] for p in results_of(listed)], [body["id"]])
        for view in (got.body, results_of(listed)[0], tagged.body):
            self.assertEqual(view["first_name"], "River")
            self.assertIs(view["anonymous"], True)
            for field in ("last_name", "phone_no", "email", "ssn", "address", "date_of_birth",
                          "about_note", "profile_picture"):
                self.assertIsNone(view[field], field)
            # what the counsellor needs to care for the client stays
            self.assertEqual(view["allergies_and_medication"], body["allergies_and_medication"])
            self.assertEqual(view["owner_id"], owner.id)
        self.assertIn("anxiety", tagged.body["tags"])

        # Filters match only what the counsellor sees: the alias, never the hidden fields.
        for query in (real_name_query, f"name=mokoena{marker}", phone_query,
                      f"email=thandiwe.{marker}"):
            self.assertEqual(counselor_finds(query), [], query)
        self.assertEqual(counselor_finds("name=river"), [body["id"]])

        # An admin sees the alias too, and the whole record only with a recorded reason.
        hidden = self.admin.get(path, consistency=counselor.consistency)
        self.assertEqual(hidden.status, 200, hidden)
        self.assertEqual(hidden.body["first_name"], "River")
        self.assertIsNone(hidden.body["email"])
        self.assertEqual(self.admin.get("/api/v1/patients?" + real_name_query).body["results"],
                         [], "an admin cannot probe the hidden name either")
        assert_problem(self, self.admin.get(path + "?reason=x"), 400, "invalid_parameter")
        revealed = self.admin.get(path + "?" + harness.query_string(reason="Court order 2026/118"))
        self.assertEqual(revealed.status, 200, revealed)
        self.assertTrue(revealed.header("Consistency-Token"))
        reveals = [e for e in harness.logged_events(self.db)
                   if e["type"] == "account.identity_revealed"
                   and e["data"]["user_id"] == owner.id]
        self.assertEqual(len(reveals), 1)
        self.assertEqual(reveals[0]["actor"]["id"], self.admin.id)
        self.assertNotIn("Court order", json.dumps(reveals))
        # The client themself, and the admin with a reason, see the whole record.
        for reader, full in ((owner, owner.get(path, consistency=counselor.consistency)),
                             (self.admin, revealed)):
            self.assertEqual(full.status, 200, full)
            for field in ("first_name", "last_name", "phone_no", "email", "ssn", "address",
                          "date_of_birth", "about_note", "profile_picture"):
                self.assertEqual(full.body[field], body[field], f"{reader.role}: {field}")
            self.assertNotIn("anonymous", full.body)

    def test_filters_and_paging(self):
        marker = uuid.uuid4().hex[:8]
        people = [("Ayanda", f"Zulu{marker}", f"ayanda.{marker}@example.org"),
                  ("Bongani", f"Zulu{marker}", f"bongani.{marker}@example.org"),
                  ("Carla", f"Smit{marker}", f"carla.{marker}@example.org")]
        made = []
        for first, last, email in people:
            owner = self.api.new_user("client")
            response = self.admin.post("/api/v1/patients", record(
                owner_id=owner.id, first_name=first, last_name=last, email=email))
            self.assertEqual(response.status, 201, response)
            self.admin.consistency = response.header("Consistency-Token")
            made.append(response.body)

        def ids(query):
            response = self.admin.get("/api/v1/patients?" + query)
            self.assertEqual(response.status, 200, response)
            return sorted(p["id"] for p in results_of(response))

        self.assertEqual(ids(f"name=zulu{marker}"), sorted(p["id"] for p in made[:2]))
        self.assertEqual(ids(f"name=ayanda%20zulu{marker}"), [made[0]["id"]])
        self.assertEqual(ids(f"email=CARLA.{marker}"), [made[2]["id"]])
        phone_digits = made[1]["phone_no"][-7:]
        self.assertEqual(ids(f"phone={phone_digits}&name={marker}"), [made[1]["id"]])
        self.assertEqual(ids(f"name=nobody{marker}"), [])
        page = self.admin.get(f"/api/v1/patients?name={marker}&per_page=2&page=2")
        self.assertEqual(page.body["total"], 3)
        self.assertEqual(page.body["total_pages"], 2)
        self.assertTrue(page.body["has_previous"])
        self.assertFalse(page.body["has_next"])
        self.assertEqual(len(page.body["results"]), 1)
        assert_problem(self, self.admin.get("/api/v1/patients?per_page=0"), 400)

    def test_events_hold_no_personal_data_in_clear_text(self):
        client = self.api.new_user("client")
        phone = random_phone()
        body, _ = self.create(client, phone_no=phone, ssn="987-65-4321",
                              first_name="Thembeka", allergies_and_medication="Sulfa drugs")
        self.assertEqual(client.post(f"/api/v1/patients/{body['id']}/update_wallet",
                                     {"amount": "1.00"}).status, 200)
        self.assertEqual(client.call("PATCH", f"/api/v1/patients/{body['id']}",
                                     {"ssn": "111-22-3333"}).status, 200)
        events = [e for e in harness.logged_events(self.db)
                  if e["stream"] == f"patient-{body['id']}"]
        self.assertEqual([e["type"] for e in events],
                         ["patient.created", "patient.wallet_updated", "patient.updated"])
        text = json.dumps(events)
        for secret in (phone, phone.lstrip("+"), "987-65-4321", "111-22-3333", "Thembeka",
                       "Sulfa drugs", "s3cret-pass", "1990-04-01"):
            self.assertNotIn(secret, text)
        created = events[0]["data"]
        for field in ("first_name", "last_name", "phone_no", "ssn", "email", "address",
                      "allergies_and_medication", "date_of_birth", "added_note", "about_note",
                      "password_hash"):
            self.assertTrue(created[field].startswith("enc:v1:"), field)
        self.assertEqual(created["wallet_balance_cents"], 1250)
        self.assertEqual(events[1]["data"]["balance_cents"], 1350)

    def test_session_details_are_sealed_in_the_events(self):
        """A session entry names a session by its id; everything else in it (a counsellor's
        notes about the session are clinical data) travels sealed with the owner's key. Those
        who may read the record see the entries as they were given; the events name the
        sessions and never what was written about them; the owner's erasure leaves the ids."""
        client = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        first = self.booked(client, counselor, hour=10)
        second = self.booked(client, counselor, hour=13)
        third = self.booked(client, counselor, hour=15)
        note = f"client disclosed {uuid.uuid4().hex}"
        body, created = self.create(client, sessions=[{"session_id": first, "notes": note + " 1"}])
        self.assertEqual(created["sessions"], [{"notes": note + " 1", "session_id": first}])
        path = f"/api/v1/patients/{body['id']}"

        added = counselor.post(path + "/add_session", {"session": {
            "session_id": second, "notes": note + " 2", "follow_up": {"in_days": 7}}})
        self.assertEqual(added.status, 200, added)
        expected = [{"notes": note + " 1", "session_id": first},
                    {"follow_up": {"in_days": 7}, "notes": note + " 2", "session_id": second}]
        self.assertEqual(added.body["sessions"], expected)
        # A session already on the record is not added again, however it is spelled.
        again = client.post(path + "/add_session", {"session_id": second.upper()})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.body["sessions"], expected)
        expected.append({"notes": note + " 3", "session_id": third})
        patched = client.call("PATCH", path, {"sessions": expected})
        self.assertEqual(patched.status, 200, patched)
        self.assertEqual(patched.body["sessions"], expected)
        for reader in (client, counselor, self.admin):
            read = reader.get(path, consistency=patched.header("Consistency-Token"))
            self.assertEqual(read.status, 200, read)
            self.assertEqual(read.body["sessions"], expected, reader.role)
        listed = results_of(client.get("/api/v1/patients"))
        self.assertEqual([p["sessions"] for p in listed], [expected])

        events = [e for e in harness.logged_events(self.db)
                  if e["stream"] == f"patient-{body['id']}"]
        self.assertEqual([(e["type"], e["version"]) for e in events],
                         [("patient.created", 2), ("patient.session_added", 2),
                          ("patient.updated", 2)])
        self.assertNotIn(note, json.dumps(events))
        self.assertNotIn("in_days", json.dumps(events))
        entries = (events[0]["data"]["sessions"] + [events[1]["data"]["session"]]
                   + events[2]["data"]["sessions"])
        self.assertEqual([e["session_id"] for e in entries], [first, second, first, second, third])
        for entry in entries:
            self.assertEqual(set(entry), {"session_id", "details"}, entry)
            self.assertTrue(entry["details"].startswith("enc:v1:"), entry)

        # Crypto-shredding the owner leaves each entry its id.
        requested = client.post("/api/v1/me/erase")
        self.assertEqual(requested.status, 202, requested)
        approved = self.admin.post(f"/api/v1/admin/erasure-requests/{client.id}/approve")
        self.assertEqual(approved.status, 200, approved)
        record = self.admin.get(path, consistency=approved.header("Consistency-Token"))
        self.assertEqual(record.status, 200, record)
        self.assertEqual(record.body["sessions"],
                         [{"erased": True, "session_id": session_id}
                          for session_id in (first, second, third)])
        self.assertNotIn(note, self.db.query(
            "SELECT sessions::text FROM read.patients WHERE patient_id = '" + body["id"] + "'"))


if __name__ == "__main__":
    harness.main(time_limit=180)
