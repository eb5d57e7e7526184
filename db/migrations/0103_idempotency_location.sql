-- A replayed response to a keyed request carries the Location of the first one (a 201 points at what it created).
ALTER TABLE idempotency_keys ADD COLUMN location text;
