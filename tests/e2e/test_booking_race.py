"""Twenty clients book the same slot at the same moment: exactly one wins."""

import threading
import unittest

import harness
from harness import assert_problem, results_of

CLIENTS = 20


class BookingRaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("booking_race")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)

    def test_twenty_clients_one_slot(self):
        counselor = harness.ready_counselor(self.api)
        clients = register_concurrently(self.api, CLIENTS)
        start = harness.weekday_at(10)

        barrier = threading.Barrier(CLIENTS)
        responses = [None] * CLIENTS
        errors = []

        def attempt(index):
            try:
                barrier.wait(timeout=20)
                responses[index] = harness.book(clients[index], counselor.id, start, timeout=30)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(f"client {index}: {error!r}")

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=40)
        self.assertEqual(errors, [])

        statuses = sorted(r.status for r in responses)
        unexpected = [r for r in responses if r.status not in (201, 409)][:3]
        self.assertEqual(statuses, [201] + [409] * (CLIENTS - 1), f"unexpected: {unexpected}")
        for response in responses:
            if response.status == 409:
                assert_problem(self, response, 409, "slot_unavailable")
        [winner] = [(i, r) for i, r in enumerate(responses) if r.status == 201]
        winner_index, won = winner
        self.assertEqual(won.body["status"], "requested")
        self.assertEqual(won.body["client_id"], clients[winner_index].id)
        self.assertEqual(harness.parse_time(won.body["start"]), start)

        # the counsellor has exactly one session for that slot, the winner's
        sessions = results_of(counselor.get("/api/v1/sessions",
                                            consistency=won.header("Consistency-Token")))
        self.assertEqual([s["id"] for s in sessions], [won.body["id"]])
        # and a loser has none
        loser = clients[(winner_index + 1) % CLIENTS]
        self.assertEqual(results_of(loser.get("/api/v1/sessions",
                                              consistency=won.header("Consistency-Token"))), [])


def register_concurrently(api, count):
    users = [None] * count
    errors = []

    def register(index):
        try:
            users[index] = api.new_user("client")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    if errors or any(user is None for user in users):
        raise AssertionError(f"registering {count} clients failed: {errors}")
    return users


if __name__ == "__main__":
    harness.main(time_limit=60)
