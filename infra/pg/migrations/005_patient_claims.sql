-- Patient records (seed 003): uniqueness that the patient aggregate cannot see, reserved here
-- before patient.create / patient.update is appended (as identity.email_claims does for
-- accounts). Phones are kept as SHA-256 hashes, never in clear text.
CREATE TABLE identity.patient_phone_claims (
  phone_hash text PRIMARY KEY,
  patient_id text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patient_phone_claims_patient ON identity.patient_phone_claims (patient_id);

-- One patient record per client.
CREATE TABLE identity.patient_owner_claims (
  owner_id uuid PRIMARY KEY,
  patient_id text NOT NULL UNIQUE,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
