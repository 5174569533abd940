"""The counsellor search is served from each api process's cache while the counselors read
model is unchanged (api/read_model_cache.hpp). What a client sees must never go stale for
longer than a projector commit takes to announce itself: a profile change, a suspension, a new
counsellor and a rebuild each show up in searches without a Consistency-Token within seconds,
and at once for a search that carries the writer's token."""

import time
import unittest
import uuid

import harness


class CounselorSearchCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("search_cache")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def search(self, client, specialty, consistency=None):
        response = client.get(f"/api/v1/counselors?specialty={specialty}&per_page=50",
                              consistency=consistency)
        self.assertEqual(response.status, 200, response)
        return response.body

    def eventually(self, client, specialty, predicate, what, seconds=5.0):
        deadline = time.monotonic() + seconds
        while True:
            body = self.search(client, specialty)
            if predicate(body):
                return body
            if time.monotonic() > deadline:
                self.fail(f"{what}: still {body!r} after {seconds} s")
            time.sleep(0.05)

    def test_changes_reach_cached_searches(self):
        specialty = f"cache{uuid.uuid4().hex[:8]}"
        client = self.api.new_user("client")
        first = self.api.new_user("counselor")
        self.assertEqual(first.put_profile(specialties=[specialty], bio="Before.").status, 200)
        self.assertEqual(first.put_availability().status, 200)
        self.api.verify(first)
        # Fill the cache: the same search twice, the second answered from it.
        body = self.eventually(client, specialty, lambda b: b["total"] == 1, "verified counsellor")
        self.assertEqual(self.search(client, specialty), body)
        self.assertEqual(body["results"][0]["bio"], "Before.")

        # A profile change: at once with the writer's token, soon without one.
        changed = first.put_profile(specialties=[specialty], bio="After.")
        self.assertEqual(changed.status, 200, changed)
        token = changed.header("Consistency-Token")
        self.assertTrue(token)
        with_token = self.search(client, specialty, consistency=token)
        self.assertEqual(with_token["results"][0]["bio"], "After.")
        self.eventually(client, specialty, lambda b: b["results"][0]["bio"] == "After.",
                        "profile change")

        # A second counsellor joins the listing; the totals follow.
        second = harness.ready_counselor(self.api)
        self.assertEqual(second.put_profile(specialties=[specialty]).status, 200)
        self.eventually(client, specialty, lambda b: b["total"] == 2, "second counsellor")

        # A suspension unlists the first one.
        suspended = self.api.admin().post(f"/api/v1/admin/users/{first.id}/suspend",
                                          {"reason": "review"})
        self.assertEqual(suspended.status, 200, suspended)
        body = self.eventually(client, specialty, lambda b: b["total"] == 1, "suspension")
        self.assertEqual([c["id"] for c in body["results"]], [second.id])

        # Pages are cached apart: page 2 of one result is empty, page 1 is not.
        page2 = client.get(f"/api/v1/counselors?specialty={specialty}&per_page=50&page=2")
        self.assertEqual(page2.status, 200, page2)
        self.assertEqual(page2.body["results"], [])
        self.assertEqual(page2.body["total"], 1)

    def test_a_rebuild_swap_reaches_cached_searches(self):
        specialty = f"rebuilt{uuid.uuid4().hex[:8]}"
        client = self.api.new_user("client")
        counselor = harness.ready_counselor(self.api)
        self.assertEqual(counselor.put_profile(specialties=[specialty], bio="Kept.").status, 200)
        self.eventually(client, specialty, lambda b: b["total"] == 1, "listed counsellor")
        # A search can see a commit before the api has loaded the version it bumped; once it
        # has (milliseconds, given a generous margin here), a search caches the page for good.
        time.sleep(1.0)
        self.assertEqual(self.search(client, specialty)["total"], 1)
        # Someone edits the read model by hand (as a faulty projection would), then bumps its
        # version as a projector commit does: searches now show (and cache) the edited row.
        self.db.query("UPDATE read.counselors SET bio = 'Tampered.'"
                      f" WHERE counselor_id = '{counselor.id}'")
        # Unannounced, the edit is not seen: the page comes from the cache.
        self.assertEqual(self.search(client, specialty)["results"][0]["bio"], "Kept.")
        self.db.query("UPDATE projection.read_model_versions SET version = version + 1"
                      " WHERE projection = 'counselors'; NOTIFY counsel_projection")
        self.eventually(client, specialty, lambda b: b["results"][0]["bio"] == "Tampered.",
                        "announced edit")
        self.assertEqual(self.search(client, specialty)["results"][0]["bio"], "Tampered.")
        # The rebuild swap repairs the rows from the events and announces the change: the
        # cached page must not outlive it.
        rebuilt = harness.run_counsel(["projections", "rebuild", "counselors", "--db",
                                       self.db.conninfo, *harness.log_flags()], timeout=120)
        self.assertEqual(rebuilt.returncode, 0, rebuilt.stdout + rebuilt.stderr)
        self.eventually(client, specialty, lambda b: b["results"][0]["bio"] == "Kept.",
                        "rebuild swap")

if __name__ == "__main__":
    harness.main()
