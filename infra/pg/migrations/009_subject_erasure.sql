-- Crypto-shredding leaves a tombstone: the key is gone, the row stays, so nothing can quietly
-- create a fresh key for an erased subject (and seal new data that would look live).
ALTER TABLE identity.subject_keys ALTER COLUMN key DROP NOT NULL;
ALTER TABLE identity.subject_keys ADD COLUMN erased_at timestamptz;
ALTER TABLE identity.subject_keys
  ADD CONSTRAINT subject_keys_key_or_tombstone CHECK ((key IS NULL) = (erased_at IS NOT NULL));
