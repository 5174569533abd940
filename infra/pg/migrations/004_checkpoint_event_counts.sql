-- Read-your-writes compares how many events a projection has applied per partition, not
-- offsets: on Kafka, transaction markers occupy offsets that no reader sees. On the postgres
-- engine offsets are dense, so the count so far equals the next offset.
ALTER TABLE projection.checkpoints ADD COLUMN events_applied bigint NOT NULL DEFAULT 0;
UPDATE projection.checkpoints SET events_applied = next_offset;
