"""The authorization matrix (issue 4): every route `counsel routes` declares (api/access_policy.cpp)
is tried by every kind of caller - anonymous, client, counsellor, admin, compliance officer - on
a resource of their own and on someone else's, and each answer is checked against the
declaration: anonymous on a non-public route 401, a role outside the route's set 403 with the
route's refusal code, someone else's resource 403 or 404 (never a success), one's own resource
anything but 401/403/404. Bodies are minimal (an empty object): a 400 from validation still
proves the request got past authorization. The declaration must also list exactly the routes
the running server registers (it refuses to start otherwise) and the README's API table."""

import collections
import json
import os
import re
import secrets
import unittest

import harness

CALLERS = ("anonymous", "client", "counselor", "admin", "compliance")
# Routes that end a session run after the transitions that need it open; routes whose success
# removes what later checks rely on run last, their refusals before their successes.
ENDS_SESSION = {("PUT", "/api/v1/sessions/{id}"), ("PATCH", "/api/v1/sessions/{id}"),
                ("POST", "/api/v1/sessions/{id}/cancel")}
DESTRUCTIVE = {("DELETE", "/api/v1/patients/{id}"), ("POST", "/api/v1/admin/users/{id}/suspend"),
               ("POST", "/api/v1/me/erase")}
# Account decisions target a throwaway client for every caller: the fixtures' accounts (and the
# admin's own) must stay usable.
THROWAWAY_TARGET = {("POST", "/api/v1/admin/users/{id}/verify"),
                    ("POST", "/api/v1/admin/users/{id}/suspend"),
                    ("POST", "/api/v1/admin/users/{id}/reinstate")}
# Bodies that get past validation to the ownership check (the handler validates them first).
BODIES = {("PUT", "/api/v1/sessions/{id}"): {"status": "cancelled"},
          ("PATCH", "/api/v1/sessions/{id}"): {"status": "cancelled"}}
# COUNSEL_E2E_VERBOSE=1 prints every request's outcome, not only the counts.
VERBOSE = os.environ.get("COUNSEL_E2E_VERBOSE") == "1"
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def patient_record():
    """A valid patient record (the rules of seed 003; see test_patients.py)."""
    return {
        "password": "s3cret-pass", "first_name": "Naledi", "last_name": "Khumalo",
        "phone_no": "+27" + "".join(secrets.choice("0123456789") for _ in range(9)),
        "allergies_and_medication": "Penicillin", "date_of_birth": "1990-04-01", "sex": "F",
        "email": "naledi@example.org", "address": "1 Long St, Cape Town", "tags": ["new"],
        "sessions": []}


def merged_token(tokens):
    """One Consistency-Token covering several: the highest offset seen per partition."""
    highest = {}
    for token in filter(None, tokens):
        for position in token.split(","):
            partition, offset = (int(part) for part in position.split("."))
            highest[partition] = max(highest.get(partition, -1), offset)
    return ",".join(f"{p}.{o}" for p, o in sorted(highest.items())) or None


def expectation(route, role, variant):
    """What the declaration promises: pass, 401, 403, or deny (403/404)."""
    if route["who"] == "public":
        return "pass"
    if role is None:
        return "401"
    if role not in route["roles"]:
        return "403"
    if route["ownership"] == "none" or role in route["ownership_exempt"] or variant == "own":
        return "pass"
    return "deny"


def readme_routes():
    """(method, path) for every route the README's API table names."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## API (v1)", 1)[1].split("\n## ", 1)[0]
    routes = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        for span in re.findall(r"`([^`]+)`", first_cell):
            match = re.match(r"^((?:GET|POST|PUT|PATCH|DELETE)(?:\\\|[A-Z]+)*) (/\S*)$", span)
            if not match:
                continue
            methods = match.group(1).split("\\|")
            path, *alternatives = match.group(2).split("?")[0].split("\\|")
            paths = [path] + [path.rsplit("/", 1)[0] + "/" + last for last in alternatives]
            routes.update((method, p) for method in methods for p in paths)
    return routes


class AuthorizationMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        listed = harness.run_counsel(["routes"])
        if listed.returncode != 0:
            raise AssertionError(f"counsel routes failed: {listed.stderr}")
        cls.matrix = json.loads(listed.stdout)

        cls.db = harness.TestDatabase("authorization_matrix")
        # Starting at all proves the declaration and the registered routes agree.
        cls.server = harness.CounselProcess("serve", cls.db)
        api = cls.api = harness.Api(cls.server.base_url)
        admin = api.admin()
        compliance = harness.create_compliance(api)
        counselor, other_counselor = harness.ready_counselor(api), harness.ready_counselor(api)
        client, other_client = api.new_user("client"), api.new_user("client")
        cls.throwaway = api.new_user("client")

        tokens = [admin.consistency, other_counselor.consistency, cls.throwaway.consistency]
        sessions = {}
        for owner, their_counselor, hour in ((client, counselor, 10),
                                              (other_client, other_counselor, 11)):
            booked = harness.book(owner, their_counselor.id, harness.weekday_at(hour))
            if booked.status != 201:
                raise AssertionError(f"booking failed: {booked!r}")
            sessions[owner.id] = booked.body["id"]
            tokens.append(booked.header("Consistency-Token"))
        patients = {}
        for owner in (client, other_client):
            created = owner.post("/api/v1/patients", patient_record())
            if created.status != 201:
                raise AssertionError(f"creating a patient record failed: {created!r}")
            patients[owner.id] = created.body["id"]
            tokens.append(created.header("Consistency-Token"))
        rooms = {}
        for owner in (client, other_client):
            opened = owner.post("/api/v1/chatrooms", {"session_id": sessions[owner.id]})
            if opened.status != 201:
                raise AssertionError(f"opening a chat room failed: {opened!r}")
            rooms[owner.id] = opened.body["id"]
            tokens.append(opened.header("Consistency-Token"))
        # Every caller's first request sees every fixture.
        everything = merged_token(tokens)
        # Each booking told its counsellor: one notification each.
        notifications = {}
        for recipient in (counselor, other_counselor):
            listed = recipient.get("/api/v1/notifications", consistency=everything)
            if listed.status != 200 or len(listed.body["results"]) != 1:
                raise AssertionError(f"the booking request notification is missing: {listed!r}")
            notifications[recipient.id] = listed.body["results"][0]["id"]
        for user in (admin, compliance, counselor, client):
            user.consistency = everything

        cls.users = {"client": client, "counselor": counselor, "admin": admin,
                     "compliance": compliance}
        # What each caller takes part in, by resource kind: a client their own account, the
        # counsellor they booked, their session, record and chat room; the counsellor themself,
        # their client, their session, that client's record and their room. Staff take part in
        # none of these.
        cls.related = {
            "client": {"user": client.id, "client": client.id, "counselor": counselor.id,
                       "session": sessions[client.id], "patient": patients[client.id],
                       "room": rooms[client.id]},
            "counselor": {"user": counselor.id, "client": client.id, "counselor": counselor.id,
                          "session": sessions[client.id], "patient": patients[client.id],
                          "notification": notifications[counselor.id], "room": rooms[client.id]},
            "admin": {"user": admin.id},
            "compliance": {"user": compliance.id},
        }
        # Someone else's: the other client, their counsellor, session and record, that
        # counsellor's notification and the pair's chat room.
        cls.others = {"user": other_client.id, "client": other_client.id,
                      "counselor": other_counselor.id, "session": sessions[other_client.id],
                      "patient": patients[other_client.id],
                      "notification": notifications[other_counselor.id],
                      "room": rooms[other_client.id]}

    def own_resource(self, route, caller):
        """The caller's own resource of the route's kind in the sense of its ownership rule,
        or None when they have none (a counsellor owns no client profile)."""
        related = self.related.get(caller, {})
        kind, ownership = route["resource"], route["ownership"]
        if ownership == "self":
            return related.get(kind) if kind in ("user", caller) else None
        if ownership == "owner":
            # A patient record's owner is its client; a notification's, its recipient.
            return related.get(kind) if caller == "client" or kind == "notification" else None
        return related.get(kind)

    def attempts(self):
        """(route, caller, variant, path id) for every combination, destructive ones last."""
        planned = []
        for route in self.matrix:
            key = (route["method"], route["path"])
            for caller in CALLERS:
                if route["resource"] == "none":
                    planned.append((route, caller, "-", None))
                elif key in THROWAWAY_TARGET:
                    planned.append((route, caller, "other", self.throwaway.id))
                else:
                    own = self.own_resource(route, caller)
                    if own is not None:
                        planned.append((route, caller, "own", own))
                    planned.append((route, caller, "other", self.others[route["resource"]]))

        def order(attempt):
            route, caller, variant, _ = attempt
            key = (route["method"], route["path"])
            role = None if caller == "anonymous" else caller
            if key in DESTRUCTIVE:
                return (2, expectation(route, role, variant) == "pass")
            return (1 if key in ENDS_SESSION else 0, False)

        return sorted(planned, key=order)  # stable: declaration order otherwise

    def send(self, route, caller, path_id):
        path = route["path"].replace("{id}", path_id) if path_id else route["path"]
        method = route["method"]
        body = None
        if method in ("POST", "PUT", "PATCH"):
            body = BODIES.get((method, route["path"]), {})
        if caller == "anonymous":
            return path, self.api.call(method, path, body=body)
        return path, self.users[caller].call(method, path, body=body)

    def test_every_route_role_and_resource(self):
        outcomes = collections.defaultdict(collections.Counter)
        failures = []
        for route, caller, variant, path_id in self.attempts():
            role = None if caller == "anonymous" else caller
            expected = expectation(route, role, variant)
            path, response = self.send(route, caller, path_id)
            status = response.status
            outcomes[expected][status] += 1
            code = response.body.get("code") if isinstance(response.body, dict) else None
            if expected == "pass":
                ok = status not in (401, 403, 404) and status < 500
            elif expected == "401":
                ok = status == 401
            elif expected == "403":
                ok = status == 403 and code == route["refusal_code"]
            else:
                ok = status in (403, 404)
            if VERBOSE:
                print(f"  {'ok ' if ok else 'BAD'} {status} {code or '':<26} {caller:<10} "
                      f"{variant:<5} {route['method']} {route['path']}")
            if not ok:
                failures.append(f"{route['method']} {path} ({route['path']}) as {caller}, "
                                f"{variant} resource: expected {expected}, got {response!r}")

        tried = sum(sum(counts.values()) for counts in outcomes.values())
        print(f"\nauthorization matrix: {len(self.matrix)} routes x {len(CALLERS)} callers x "
              f"own/other = {tried} requests")
        for expected in ("pass", "401", "403", "deny"):
            counts = outcomes.get(expected, collections.Counter())
            detail = " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))
            print(f"  expected {expected:<5} {sum(counts.values()):>4}   {detail}")
        self.assertEqual(failures, [], "\n" + "\n".join(failures))

    def test_the_matrix_is_the_readme_api_table(self):
        declared = {(route["method"], route["path"]) for route in self.matrix}
        documented = readme_routes()
        self.assertEqual(sorted(declared - documented), [], "declared but not in README.md")
        self.assertEqual(sorted(documented - declared), [], "in README.md but not declared")

    def test_the_matrix_is_well_formed(self):
        people = ["client", "counselor", "admin", "compliance"]
        for route in self.matrix:
            name = f"{route['method']} {route['path']}"
            self.assertIn(route["who"], ("public", "signed_in", "roles"), name)
            self.assertTrue(set(route["roles"]) <= set(people), name)
            if route["who"] != "roles":
                self.assertEqual(route["roles"], people, name)
            self.assertIn(route["ownership"], ("none", "self", "owner", "participant"), name)
            self.assertEqual(route["resource"] != "none", "{id}" in route["path"], name)
        self.assertEqual(len({(r["method"], r["path"]) for r in self.matrix}), len(self.matrix))


if __name__ == "__main__":
    harness.main(time_limit=120)
