-- Password reset tokens, and the notification outbox through which the reset email (and later
-- every other message to a user: sms, in-app) is delivered.

-- One-time password reset tokens. Only the token's SHA-256 is kept: the token itself exists only
-- in the email, so a database leak yields nothing usable. A token is spent by setting used_at.
CREATE TABLE identity.password_reset_tokens (
  token_hash text PRIMARY KEY,  -- sha256 hex of the token, never the token
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX password_reset_tokens_user ON identity.password_reset_tokens (user_id);

-- Messages to users, written in the same transaction as the change that causes them and
-- delivered afterwards by the api processes' outbox dispatchers (at least once, retried with
-- exponential backoff).
CREATE SCHEMA notify;

CREATE TABLE notify.outbox (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,  -- the recipient; also the subject whose key seals the payload
  channel text NOT NULL,  -- 'email' now; 'sms', 'in_app' later
  template text NOT NULL,  -- what kind of message, e.g. 'password_reset'
  payload text NOT NULL,  -- encrypted with the user's subject key (crypto::encrypt_field)
  created_at timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts int NOT NULL DEFAULT 0,
  delivered_at timestamptz,
  -- Set when delivery stopped for good (attempts exhausted, or a failure no retry can fix);
  -- last_error then says why.
  gave_up_at timestamptz,
  last_error text
);
-- What the dispatchers poll: only the few rows still waiting are indexed.
CREATE INDEX outbox_pending ON notify.outbox (next_attempt_at)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_user ON notify.outbox (user_id);

-- Every delivery attempt, successful or not.
CREATE TABLE notify.delivery_attempts (
  outbox_id uuid NOT NULL REFERENCES notify.outbox (id) ON DELETE CASCADE,
  attempt int NOT NULL,  -- 1 for the first
  at timestamptz NOT NULL DEFAULT now(),
  ok boolean NOT NULL,
  error text,  -- NULL when ok
  PRIMARY KEY (outbox_id, attempt)
);
