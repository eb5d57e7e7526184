-- A key is claimed before its request runs: a second request with the key while the first runs is refused (409), so
-- one key never runs two bodies. in_flight holds the claim of the request running; it is NULL once the response is kept.
ALTER TABLE idempotency_keys ADD COLUMN in_flight uuid;
