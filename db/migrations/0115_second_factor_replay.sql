-- A second factor's code is accepted once: the account keeps a hash of the last code it accepted and when, and refuses
-- the same code again while an authenticator code is still valid.
ALTER TABLE account_users ADD COLUMN last_code_hash text, ADD COLUMN last_code_at timestamptz;
