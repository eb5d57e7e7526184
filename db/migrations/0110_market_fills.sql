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

-- What a pool sells (price, GPU count, outages) moves terms_version. A fill names the terms it was decided on and locks
-- the pool's row FOR KEY SHARE until it commits; a pool's change of terms locks the row FOR UPDATE, so it waits for the
-- fills in flight, and fills decided on the old terms are refused after it. Fills never wait for each other, nor for the
-- pool's other writes (releases, earnings).
ALTER TABLE pools ADD COLUMN terms_version bigint NOT NULL DEFAULT 1;

-- The order holds were written in: a pool's view carries the newest it has read, so the version it pushes moves with
-- every fill without any fill writing the pool's row.
ALTER TABLE pool_holds ADD COLUMN seq bigserial;

-- A market reads the holds of a pool that are still running.
CREATE INDEX pool_holds_by_end ON pool_holds (pool_id, (start_hour + hours));
