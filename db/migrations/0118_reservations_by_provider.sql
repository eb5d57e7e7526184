-- A provider's reliability (hardening issue 17) is read from its reservations over a trailing window whenever its record
-- changes: by provider and end hour, so the read does not scan every reservation.
CREATE INDEX reservations_by_provider ON reservations (provider_id, end_hour);
