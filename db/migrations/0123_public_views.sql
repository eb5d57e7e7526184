-- The web tier lists bids, compute bids and reservations as their public views (BidView and ReservationView of the
-- contracts), never as the grains' own state: each row keeps its view beside its state, written by the same statement at
-- the version it writes (RowStore, ComputeBidStore), so the view is exactly as durable as the row.
ALTER TABLE bids ADD COLUMN view_json jsonb;
ALTER TABLE reservations ADD COLUMN view_json jsonb;
ALTER TABLE compute_bids ADD COLUMN view_json jsonb;

-- Rows written before: a bid's view is its state without the order hash, with its id and version.
UPDATE bids SET view_json = (state_json - 'orderHash') || jsonb_build_object('id', id, 'version', version);

-- A reservation's view is its state without what only its grain needs, with its id, version and end (the ends_at column:
-- the end of its plan, or the hour an outage or a cancellation gave the rest back), written as the API writes times.
UPDATE reservations SET view_json = (state_json - 'voucherProgramId' - 'capacityRefused' - 'releasedFromHour')
    || jsonb_build_object('id', id, 'version', version,
                          'endsAt', to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'));

-- A resting compute bid is shown in the first candidate model of the catalogue, which SQL does not know: the silo writes
-- the views of compute bids listed before this as it starts (ComputeBidStore.WriteMissingViewsAsync).
