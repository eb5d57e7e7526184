-- Good-till-cancelled compute bids (rule 9) rest in no market: each is kept by its own grain. This is their owners'
-- list of them, written by each bid's grain after every change its owner can see (a newer version is never replaced by
-- an older one). Once filled, a bid names the try that filled it, a row of bids.
CREATE TABLE compute_bids (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL,
    state          text NOT NULL CHECK (state IN ('Resting', 'Filled', 'PartiallyFilled', 'Cancelled', 'Expired')),
    filled_bid_id  text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    state_json     jsonb NOT NULL
);
CREATE INDEX compute_bids_by_tenant ON compute_bids (tenant_id, created_at DESC);
