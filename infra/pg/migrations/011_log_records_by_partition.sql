-- log.records becomes one table per (topic, partition). Every range read (projection rebuilds,
-- the processor's state rebuild, audit replay and verify) reads one partition in offset order;
-- in one shared table a partition's records are scattered one per page among the other
-- partitions', so a read touched about eight times the pages it needed, and with a log larger
-- than shared_buffers every partition re-read the whole table. Per-partition tables keep each
-- partition's records together, in the order they were appended.
--
-- The engine creates the tables of every (topic, partition) when it opens the log
-- (log.ensure_record_partitions, below), since the partition count is only known then. There
-- is no default partition: a record for a table that does not exist is refused, never hidden.
ALTER TABLE log.records RENAME TO records_before_011;
ALTER TABLE log.records_before_011 RENAME CONSTRAINT records_pkey TO records_before_011_pkey;

CREATE TABLE log.records (
  topic smallint NOT NULL,
  partition int NOT NULL,
  "offset" bigint NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  appended_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (topic, partition, "offset")
) PARTITION BY RANGE (topic, partition);

-- Creates the missing tables log.records_t<topic>_p<partition> for every given topic and every
-- partition below partition_count; returns how many it created. Creators serialize on an
-- advisory lock (concurrent CREATE TABLE of one name fails rather than waits), and a log whose
-- tables all exist costs one catalogue count and no lock.
CREATE FUNCTION log.ensure_record_partitions(topics smallint[], partition_count int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  created int := 0;
  t smallint;
  name text;
BEGIN
  IF (SELECT count(*) FROM pg_inherits WHERE inhparent = 'log.records'::regclass)
     >= cardinality(topics) * partition_count THEN
    RETURN 0;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('counsel.log.records partitions'));
  FOREACH t IN ARRAY topics LOOP
    FOR p IN 0 .. partition_count - 1 LOOP
      name := format('records_t%s_p%s', t, p);
      IF to_regclass(format('log.%I', name)) IS NULL THEN
        EXECUTE format('CREATE TABLE log.%I PARTITION OF log.records FOR VALUES FROM (%s, %s) TO (%s, %s)',
                       name, t, p, t, p + 1);
        created := created + 1;
      END IF;
    END LOOP;
  END LOOP;
  RETURN created;
END $$;

-- An existing log moves over in (topic, partition, offset) order, so each table starts out in
-- the order its reads want. Its partition count is the one the engine recorded (or, for a log
-- never opened by this engine version, the highest partition it holds plus one); the tables
-- of every topic the engine has (commands, events, results: infra/log/log.hpp) are created
-- now, so processes started before this migration can go on appending to any of them.
--
-- This runs in one transaction that holds log.records exclusively and writes the log a second
-- time: on a large log, plan the downtime and the disk space (about the log's size again).
SELECT log.ensure_record_partitions(
  '{1,2,3}'::smallint[]
    || coalesce((SELECT array_agg(DISTINCT topic ORDER BY topic) FROM log.records_before_011
                 WHERE topic NOT IN (1, 2, 3)), '{}'::smallint[]),
  coalesce((SELECT value::int FROM log.settings WHERE name = 'partition_count'),
           (SELECT max(partition) + 1 FROM log.records_before_011), 0));
INSERT INTO log.records (topic, partition, "offset", key, value, appended_at)
  SELECT topic, partition, "offset", key, value, appended_at FROM log.records_before_011
  ORDER BY topic, partition, "offset";
DROP TABLE log.records_before_011;
