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

-- What a pool sells (price, GPU count, outages) moves terms_version. A fill names the terms it was decided on; a change
-- of terms waits for the fills in flight on the pool, and fills decided on the old terms are refused after it. Fills
-- never wait for each other, nor for the pool's other writes (releases, earnings).
ALTER TABLE pools ADD COLUMN terms_version bigint NOT NULL DEFAULT 1;

-- The two sides of that, as locks held to the end of the transaction. A fill takes the pool's advisory lock shared, then
-- its row FOR KEY SHARE (a fill that waited re-checks the row as it is now, and so sees new terms). A change of terms
-- takes the advisory lock exclusively first: the lock manager queues it, so fills arriving later wait behind it rather
-- than starve it; once it holds it no fill is in flight, and it locks the row FOR UPDATE.
CREATE FUNCTION pool_fill_lock(pool_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('pool:' || pool_id, 0));
    RETURN true;
END $$;

CREATE FUNCTION pool_terms_lock(pool_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('pool:' || pool_id, 0));
    PERFORM 1 FROM pools WHERE id = pool_id FOR UPDATE;
    RETURN true;
END $$;

-- A market reads the holds of a pool that are still running.
CREATE INDEX pool_holds_by_end ON pool_holds (pool_id, (start_hour + hours));
