-- The market for a GPU model is the single writer of its fills: one statement per fill writes the bid in its final state,
-- the confirmed reservation, the capacity hold and, for a voucher fill, the voucher hold with its ledger posting, and
-- many fills share one transaction.
--
-- market_epochs fences the writer: an activation of a market takes the next epoch before it reads anything, and every
-- fill it writes names that epoch and locks its row FOR SHARE. A stale activation (a duplicate during a membership
-- change) writes nothing once a newer one has taken the epoch; a newer one waits for the older one's fills in flight
-- to commit before it reads.
CREATE TABLE market_epochs (
    gpu_model  text PRIMARY KEY,
    epoch      bigint NOT NULL CHECK (epoch > 0)
);

-- Two counters beside a pool's own version, so that the market and the pool never write over each other:
--   terms_version: bumped by the pool when what it sells changes (price, GPU count, outages). A fill names the terms
--     it was decided on and is refused if they moved.
--   booked_version: bumped by every fill on the pool. A pool that takes capacity away (fewer GPUs, an outage) names
--     the bookings it checked against and is refused if a fill came in between.
ALTER TABLE pools
    ADD COLUMN terms_version  bigint NOT NULL DEFAULT 1,
    ADD COLUMN booked_version bigint NOT NULL DEFAULT 0;

-- A market reads the holds of a pool that are still running.
CREATE INDEX pool_holds_by_end ON pool_holds (pool_id, (start_hour + hours));
