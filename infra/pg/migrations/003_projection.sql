-- Projector bookkeeping, and the schema the read models live in.
CREATE SCHEMA projection;

-- Next event offset per projector and partition, written in the same transaction as the
-- projector's read-model changes.
CREATE TABLE projection.checkpoints (
  projection text NOT NULL,
  partition int NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, partition)
);

-- Events a projector could not apply, kept for inspection instead of blocking the partition.
CREATE TABLE projection.quarantine (
  projection text NOT NULL,
  partition int NOT NULL,
  "offset" bigint NOT NULL,
  error text,
  event text,
  quarantined_at timestamptz DEFAULT now(),
  PRIMARY KEY (projection, partition, "offset")
);

CREATE SCHEMA read;
