"""Real-time chat over real WebSockets (python3-websocket clients): a client and a counsellor
connected to two different api processes exchange messages delivered through the events log,
in order; typing indicators reach the other side only; a reconnect with `after` returns what
was missed; an outsider cannot join; a slow reader is cut off while the others keep receiving;
notifications are pushed on /ws/notifications."""

import json
import socket
import statistics
import threading
import time
import unittest

import websocket  # Debian's python3-websocket

import harness
from harness import assert_problem


def ws_url(api, path):
    return api.base_url.replace("http://", "ws://") + path


class Socket:
    """A WebSocket client that collects frames on a thread, so tests can wait for them."""

    def __init__(self, api, path, token=None, header_token=None, sockopt=(), read=True):
        headers = [f"Authorization: Bearer {header_token}"] if header_token else []
        url = ws_url(api, path) + (("&" if "?" in path else "?") + f"token={token}" if token else "")
        self.ws = websocket.create_connection(url, header=headers, timeout=10, sockopt=sockopt)
        self.frames = []
        self.arrivals = []
        self.closed = threading.Event()
        self.close_status = None
        self._seen = threading.Condition()
        self.thread = None
        if read:
            self.start_reading()

    def start_reading(self):
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_status = int.from_bytes(data[:2], "big")
                    break
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue
                with self._seen:
                    self.frames.append(json.loads(data.decode()))
                    self.arrivals.append(time.monotonic())
                    self._seen.notify_all()
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.closed.set()
            with self._seen:
                self._seen.notify_all()

    def send(self, frame):
        self.ws.send(json.dumps(frame))

    def messages(self):
        with self._seen:
            return [f for f in self.frames if f.get("type") == "message"]

    def wait_for(self, predicate, timeout=10, what="frames"):
        deadline = time.monotonic() + timeout
        with self._seen:
            while not predicate(self.frames):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; have {self.frames[-5:]}")
                self._seen.wait(left)

    def wait_messages(self, count, timeout=10):
        self.wait_for(lambda frames: sum(1 for f in frames if f.get("type") == "message")
                      >= count, timeout, f"{count} messages")
        return self.messages()

    def close(self):
        try:
            self.ws.close()
        except (websocket.WebSocketException, OSError):
            pass


class WebSocketChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.TestDatabase("websocket")
        cls.server = harness.CounselProcess("serve", cls.db)
        cls.api = harness.Api(cls.server.base_url)
        # A second api process with a tiny frame queue: slow readers there are cut off fast.
        cls.other = harness.CounselProcess("api", cls.db, name="api-2",
                                           extra_args=["--ws-max-queued-frames", "8"])
        cls.other_api = harness.Api(cls.other.base_url)
        cls.counselor = harness.ready_counselor(cls.api)
        cls.client = cls.api.new_user("client", display_name="Thabo Client")
        booked = harness.book(cls.client, cls.counselor.id, harness.weekday_at(10))
        assert booked.status == 201, booked
        harness.wait_visible(cls.counselor, booked.body["id"], booked.header("Consistency-Token"))
        room = cls.client.post("/api/v1/chatrooms", {"session_id": booked.body["id"]})
        assert room.status in (200, 201), room
        cls.room_id = room.body["id"]
        cls.path = f"/ws/chat/{cls.room_id}"

    def test_participants_on_two_processes_exchange_messages_in_order(self):
        client_socket = Socket(self.api, self.path, token=self.client.token)
        counselor_socket = Socket(self.other_api, self.path, header_token=self.counselor.token)
        try:
            time.sleep(0.2)  # both subscribed
            sent_at = []
            for i in range(20):
                sent_at.append(time.monotonic())
                client_socket.send({"type": "message", "content": f"hello {i}"})
            # One socket's frames are handled in order, so its messages keep their order.
            for s in (client_socket, counselor_socket):
                got = s.wait_messages(20)
                self.assertEqual([m["content"] for m in got], [f"hello {i}" for i in range(20)])
            # Sent concurrently from both sides, every participant still sees one room order.
            reply_threads = [threading.Thread(target=lambda i=i: self.counselor.post(
                f"/api/v1/chatrooms/{self.room_id}/messages",
                {"content": f"reply {i}", "message_type": "text"})) for i in range(5)]
            for t in reply_threads:
                t.start()
            for i in range(5):
                client_socket.send({"type": "message", "content": f"more {i}"})
            for t in reply_threads:
                t.join()
            orders = []
            for s in (client_socket, counselor_socket):
                got = s.wait_messages(30)
                self.assertEqual(len(set(m["id"] for m in got)), 30, "no duplicates")
                orders.append([m["id"] for m in got])
                mine = [m["content"] for m in got if m["content"].startswith("more")]
                self.assertEqual(mine, [f"more {i}" for i in range(5)])
            self.assertEqual(orders[0], orders[1], "both sides see the same order")
            # The socket sends carry no Consistency-Token back: wait for the read model instead.
            def stored():
                page = self.client.get(f"/api/v1/chatrooms/{self.room_id}/messages?limit=30")
                self.assertEqual(page.status, 200, page)
                ids = [m["id"] for m in reversed(page.body["results"])]
                return ids if ids and ids[-1] == orders[0][-1] else None

            history = harness.wait_until(stored, timeout=10, what="the read model's messages")
            self.assertEqual(history, orders[0], "the live order is the stored order")
            burst = [a - s for a, s in zip(counselor_socket.arrivals[:20], sent_at)]
            # One message at a time: from the send on api 1 to the frame on api 2.
            single = []
            for i in range(10):
                have = len(counselor_socket.messages())
                started = time.monotonic()
                client_socket.send({"type": "message", "content": f"ping {i}"})
                counselor_socket.wait_messages(have + 1)
                single.append(counselor_socket.arrivals[-1] - started)
            print(f"\nfan-out across processes: one at a time median "
                  f"{statistics.median(single) * 1000:.1f} ms, max {max(single) * 1000:.1f} ms; "
                  f"a burst of 20 from one socket median {statistics.median(burst) * 1000:.1f} ms")
            # Typing is ephemeral and goes to the others only.
            counselor_socket.send({"type": "typing"})
            client_socket.wait_for(lambda fs: any(f.get("type") == "typing" for f in fs),
                                   what="typing frame")
            typing = [f for f in client_socket.frames if f.get("type") == "typing"]
            self.assertEqual(typing[0]["user_id"], self.counselor.id)
            time.sleep(0.3)
            self.assertFalse(any(f.get("type") == "typing" for f in counselor_socket.frames))
            # Bad frames get an error frame, the socket stays open.
            client_socket.send({"type": "message", "content": ""})
            client_socket.ws.send("not json")
            client_socket.wait_for(
                lambda fs: sum(1 for f in fs if f.get("type") == "error") >= 2, what="errors")
            self.assertFalse(client_socket.closed.is_set())
        finally:
            client_socket.close()
            counselor_socket.close()
        # Nothing of the conversation is readable in the events log.
        raw = json.dumps(harness.logged_events(self.db))
        self.assertNotIn("hello 1", raw)
        self.assertNotIn("reply 1", raw)

    def test_two_clients_and_a_counsellor_in_two_rooms_on_two_processes(self):
        second = self.api.new_user("client", display_name="Second Client")
        # 16:00 on a later day than the class's 10:00 and 14:00 bookings, whatever the hour now
        # (weekday_at moves an hour already past to the next day).
        booked = harness.book(second, self.counselor.id, harness.weekday_at(16, nth=1))
        self.assertEqual(booked.status, 201, booked)
        harness.wait_visible(self.counselor, booked.body["id"], booked.header("Consistency-Token"))
        room = self.counselor.post("/api/v1/chatrooms", {"participant_id": second.id})
        self.assertIn(room.status, (200, 201), room)
        second_path = f"/ws/chat/{room.body['id']}"
        first_client = Socket(self.api, self.path, token=self.client.token)
        second_client = Socket(self.api, second_path, token=second.token)
        counselor_first = Socket(self.other_api, self.path, token=self.counselor.token)
        counselor_second = Socket(self.other_api, second_path, token=self.counselor.token)
        try:
            time.sleep(0.2)
            first_client.send({"type": "message", "content": "from the first client"})
            second_client.send({"type": "message", "content": "from the second client"})
            counselor_first.wait_messages(1)
            counselor_second.wait_messages(1)
            counselor_first.send({"type": "message", "content": "to the first"})
            counselor_second.send({"type": "message", "content": "to the second"})
            self.assertEqual([m["content"] for m in first_client.wait_messages(2)],
                             ["from the first client", "to the first"])
            self.assertEqual([m["content"] for m in second_client.wait_messages(2)],
                             ["from the second client", "to the second"])
            time.sleep(0.3)  # nothing of one room leaks into the other
            self.assertEqual(len(first_client.messages()), 2)
            self.assertEqual(len(second_client.messages()), 2)
            self.assertEqual(counselor_second.messages()[0]["sender_name"], "Second Client")
        finally:
            for sock in (first_client, second_client, counselor_first, counselor_second):
                sock.close()

    def test_reconnecting_with_after_returns_what_was_missed(self):
        first = Socket(self.other_api, self.path, token=self.counselor.token)
        time.sleep(0.2)
        sent = self.client.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                {"content": "before the drop", "message_type": "text"})
        self.assertEqual(sent.status, 201, sent)
        seen = first.wait_messages(1)
        last_id = seen[-1]["id"]
        first.close()
        for i in range(3):
            r = self.client.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                 {"content": f"missed {i}", "message_type": "text"})
            self.assertEqual(r.status, 201, r)
        again = Socket(self.other_api, f"{self.path}?after={last_id}", token=self.counselor.token)
        try:
            got = again.wait_messages(3)
            self.assertEqual([m["content"] for m in got], ["missed 0", "missed 1", "missed 2"])
            live = self.client.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                    {"content": "live again", "message_type": "text"})
            self.assertEqual(live.status, 201, live)
            got = again.wait_messages(4)
            self.assertEqual(got[3]["content"], "live again")
        finally:
            again.close()

    def test_a_fresh_join_gets_only_what_is_sent_after_it(self):
        # Nobody watches the room here meanwhile, so the api's tail of the events log idles and
        # a join resumes it at the log's end: what was sent before is history, not live.
        for i in range(3):
            r = self.client.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                 {"content": f"while nobody watched {i}", "message_type": "text"})
            self.assertEqual(r.status, 201, r)
        fresh = Socket(self.api, self.path, token=self.client.token)
        try:
            time.sleep(0.2)  # subscribed
            r = self.counselor.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                    {"content": "after the join", "message_type": "text"})
            self.assertEqual(r.status, 201, r)
            fresh.wait_messages(1)
            time.sleep(0.3)  # anything else would have arrived by now
            self.assertEqual([m["content"] for m in fresh.messages()], ["after the join"])
        finally:
            fresh.close()

    def test_outsiders_and_strangers_cannot_join(self):
        outsider = self.api.new_user("client")
        for api in (self.api, self.other_api):
            with self.assertRaises(websocket.WebSocketBadStatusException) as caught:
                Socket(api, self.path, token=outsider.token)
            self.assertEqual(caught.exception.status_code, 404)
            with self.assertRaises(websocket.WebSocketBadStatusException) as caught:
                Socket(api, self.path)
            self.assertEqual(caught.exception.status_code, 401)
            with self.assertRaises(websocket.WebSocketBadStatusException) as caught:
                Socket(api, "/ws/elsewhere", token=self.client.token)
            self.assertEqual(caught.exception.status_code, 404)
        # Nor read the history over REST.
        assert_problem(self, outsider.get(f"/api/v1/chatrooms/{self.room_id}/messages"), 404)

    def test_a_slow_reader_is_cut_off_while_others_keep_receiving(self):
        # The slow reader never reads and has a tiny receive window; api-2 allows 8 queued frames.
        slow = Socket(self.other_api, self.path, token=self.counselor.token, read=False,
                      sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        healthy = Socket(self.other_api, self.path, token=self.client.token)
        try:
            time.sleep(0.2)
            before = len(healthy.messages())
            big = "x" * 3900
            count = 60
            for i in range(count):
                r = self.client.post(f"/api/v1/chatrooms/{self.room_id}/messages",
                                     {"content": f"{i} {big}", "message_type": "text"})
                self.assertEqual(r.status, 201, r)
            healthy.wait_messages(before + count, timeout=20)
            # Now the slow one reads: what was buffered, then the server's goodbye.
            slow.start_reading()
            self.assertTrue(slow.closed.wait(10), "the slow reader was not disconnected")
            self.assertLess(len(slow.messages()), count, "the slow reader got everything")
            self.assertIn(slow.close_status, (1008, None))
            self.assertFalse(healthy.closed.is_set())
        finally:
            slow.close()
            healthy.close()

    def test_notifications_are_pushed(self):
        listener = Socket(self.api, "/ws/notifications", token=self.counselor.token)
        try:
            time.sleep(0.2)
            booked = harness.book(self.client, self.counselor.id, harness.weekday_at(14))
            self.assertEqual(booked.status, 201, booked)
            # The counsellor's stream also carries the other tests' new_message notifications,
            # which on a lagging projector may be pushed after this socket opened: take the one
            # about this booking.
            def about_booking(frames):
                return [f for f in frames if f.get("type") == "notification"
                        and f["notification"].get("subject_id") == booked.body["id"]]
            listener.wait_for(lambda fs: about_booking(fs), what="the booking's notification")
            pushed = about_booking(listener.frames)
            self.assertEqual(len(pushed), 1, pushed)
            self.assertEqual(pushed[0]["notification"]["kind"], "new_booking_request")
        finally:
            listener.close()


if __name__ == "__main__":
    harness.main()
