-- Per projection, how many committed transactions changed rows that api processes cache
-- (api/read_model_cache.hpp). Bumped in the same transaction as the rows (a projector batch, a
-- rebuild swap), and read in the same snapshot as the checkpoints, so a reader that has waited
-- for its Consistency-Token also sees every change up to it.
CREATE TABLE projection.read_model_versions (
  projection text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 0
);
