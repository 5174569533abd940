-- Two-factor authentication (TOTP) state that is not an event: a secret being set up (it
-- becomes account.two_factor_enabled only once the holder proves they can generate codes), and
-- the last time step accepted per user, so a code observed over a shoulder cannot be replayed
-- within its 30-second window.
CREATE TABLE identity.two_factor_pending (
  user_id uuid PRIMARY KEY,
  secret_enc text NOT NULL,  -- encrypted with the user's subject key
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identity.totp_last_step (
  user_id uuid PRIMARY KEY,
  last_step bigint NOT NULL
);
