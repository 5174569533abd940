#!/usr/bin/python3
"""Bookings per day, from the audit stream: an example analytics consumer of counsel.events.v1.

Reads the events topic from the beginning as an ordinary Kafka consumer (read_committed, Debian's
python3-confluent-kafka), counts `session.requested` events per UTC day of the booked slot
(`data.start`) and prints CSV:

    date,bookings
    2026-11-23,2

With --outcomes it adds how many of those bookings were later confirmed and cancelled.

It looks only at non-personal members of each event: type, data.session_id and
data.start. Names, emails, topics, messages and notes are `enc:v1:` ciphertext under their data
subject's key (docs/events.md); this job has no key and never decrypts, keeps or prints them.

    /usr/bin/python3 ops/examples/bookings_per_day.py --bootstrap "$(cat var/kafka-bootstrap)" \\
        --until-idle 5
"""

import argparse
import collections
import json
import os
import signal
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

EVENTS_TOPIC = "counsel.events.v1"
REQUESTED, CONFIRMED, CANCELLED = "session.requested", "session.confirmed", "session.cancelled"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("COUNSEL_KAFKA_BOOTSTRAP"),
                        help="Kafka bootstrap servers (env COUNSEL_KAFKA_BOOTSTRAP)")
    parser.add_argument("--group-id",
                        default=os.environ.get("COUNSEL_ANALYTICS_GROUP", "counsel-analytics"),
                        help="consumer group id (env COUNSEL_ANALYTICS_GROUP); offsets are never "
                             "committed: every run recounts the whole topic")
    parser.add_argument("--topic", default=EVENTS_TOPIC)
    parser.add_argument("--until-idle", type=float, metavar="SECONDS",
                        help="stop once no record arrived for SECONDS (default: run until "
                             "interrupted, then print)")
    parser.add_argument("--outcomes", action="store_true",
                        help="also count how many of each day's bookings were confirmed and "
                             "cancelled")
    parser.add_argument("--kafka-config", default=os.environ.get("COUNSEL_KAFKA_CONFIG", ""),
                        metavar="K=V,K=V", help="extra librdkafka settings (env "
                        "COUNSEL_KAFKA_CONFIG), e.g. the mock cluster's fetch.wait.max.ms=10")
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("--bootstrap (or COUNSEL_KAFKA_BOOTSTRAP) is required, "
                     "e.g. --bootstrap \"$(cat var/kafka-bootstrap)\"")
    return args


def consumer_config(args):
    config = {"bootstrap.servers": args.bootstrap, "group.id": args.group_id,
              "isolation.level": "read_committed", "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "enable.partition.eof": False}
    for item in filter(None, (part.strip() for part in args.kafka_config.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"bookings_per_day: --kafka-config item {item!r} is not key=value")
        config[key.strip()] = value.strip()
    return config


class BookingsPerDay:
    """The whole analytics state: session id -> UTC day of its slot, and its outcomes. Nothing
    else from an event is kept."""

    def __init__(self):
        self.day_of = {}
        self.confirmed = set()
        self.cancelled = set()

    def apply(self, value):
        try:
            event = json.loads(value)
            kind, data = event["type"], event["data"]
            session_id = data.get("session_id") if isinstance(data, dict) else None
        except (ValueError, KeyError, TypeError):
            return  # not an event envelope: not ours to judge here
        if not session_id:
            return
        if kind == REQUESTED:
            start = data.get("start", "")
            # RFC 3339 UTC ("2026-11-23T08:00:00.000Z"): the date is the first ten characters.
            if len(start) >= 10 and start.endswith("Z"):
                self.day_of.setdefault(session_id, start[:10])  # a redelivery counts once
        elif kind == CONFIRMED:
            self.confirmed.add(session_id)
        elif kind == CANCELLED:
            self.cancelled.add(session_id)

    def rows(self, outcomes):
        bookings = collections.Counter(self.day_of.values())
        confirmed = collections.Counter(self.day_of[s] for s in self.confirmed if s in self.day_of)
        cancelled = collections.Counter(self.day_of[s] for s in self.cancelled if s in self.day_of)
        yield ["date", "bookings", "confirmed", "cancelled"] if outcomes else ["date", "bookings"]
        for day in sorted(bookings):
            row = [day, bookings[day]]
            if outcomes:
                row += [confirmed[day], cancelled[day]]
            yield row


def assign_from_beginning(consumer, topic, timeout=30):
    """Every partition of the topic from offset zero: a full recount needs no group rebalance."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is not None and described.error is None and described.partitions:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"bookings_per_day: topic {topic} not found on the cluster")
        time.sleep(0.5)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in sorted(described.partitions)])


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer(consumer_config(args))
    counts = BookingsPerDay()
    try:
        assign_from_beginning(consumer, args.topic)
        last_record = time.monotonic()
        while not stopping:
            message = consumer.poll(0.2)
            if message is None:
                if args.until_idle is not None and \
                        time.monotonic() - last_record >= args.until_idle:
                    break
                continue
            if message.error():
                if message.error().fatal():
                    raise KafkaException(message.error())
                continue  # transient (broker down, rebalance): librdkafka retries
            last_record = time.monotonic()
            counts.apply(message.value())
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    for row in counts.rows(args.outcomes):
        print(",".join(str(cell) for cell in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
