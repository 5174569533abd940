-- Identity data that must not live in the event log.
CREATE SCHEMA identity;

-- Email uniqueness is reserved here before account.register is appended.
CREATE TABLE identity.email_claims (
  email_hash text PRIMARY KEY,
  user_id uuid NOT NULL UNIQUE,
  claimed_at timestamptz NOT NULL DEFAULT now()
);

-- One encryption key per data subject; deleting it crypto-shreds the subject's events.
CREATE TABLE identity.subject_keys (
  subject uuid PRIMARY KEY,
  key bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Rotating refresh tokens (hashed); reuse of a used token revokes its whole family.
CREATE TABLE identity.refresh_tokens (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL,
  family uuid NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON identity.refresh_tokens (family);
