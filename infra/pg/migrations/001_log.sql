-- The postgres log engine: partitioned, keyed, append-only records with per-partition offsets.
CREATE SCHEMA log;

-- Offsets are assigned from log.heads under its row lock, so they are dense and become
-- visible in order; the primary key is the last line of defence against a duplicate offset.
CREATE TABLE log.records (
  topic smallint NOT NULL,
  partition int NOT NULL,
  "offset" bigint NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  appended_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (topic, partition, "offset")
);

-- Next offset per partition; its row lock serializes appenders of one partition.
CREATE TABLE log.heads (
  topic smallint NOT NULL,
  partition int NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (topic, partition)
);

-- The owner epoch (fencing token) of each partition of a consumer group.
CREATE TABLE log.partition_owners (
  grp text NOT NULL,
  partition int NOT NULL,
  epoch bigint NOT NULL,
  owner text,
  PRIMARY KEY (grp, partition)
);

-- A group's consumed position (next offset to read) per partition of its topic.
CREATE TABLE log.group_positions (
  grp text NOT NULL,
  partition int NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (grp, partition)
);

-- Live members of each group; a member whose heartbeat is old is considered gone.
CREATE TABLE log.group_members (
  grp text NOT NULL,
  member text NOT NULL,
  heartbeat_at timestamptz,
  PRIMARY KEY (grp, member)
);

-- Engine settings fixed at first start (partition_count: a key's partition depends on it).
CREATE TABLE log.settings (
  name text PRIMARY KEY,
  value text
);
