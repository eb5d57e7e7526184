-- History for the dashboards' charts, so a reload or another day still shows the past. One background job of the web
-- tier (HistoryRollup) writes a row per minute, computed from the durable rows (pools and their holds, reservations,
-- vouchers and programmes), and folds minute rows older than a day into hour rows. Each row carries its bucket size:
-- 'minute' or 'hour'. Sums and a sample count are kept rather than averages, so folding minutes into an hour is exact.

-- GPUs listed and GPUs booked in the bucket, per pool (with its province, site and provider, to add up per province
-- or per provider). A minute row is one sample; an hour row sums the minutes it replaced.
CREATE TABLE history_utilization (
    grain         text NOT NULL CHECK (grain IN ('minute', 'hour')),
    bucket        timestamptz NOT NULL,
    pool_id       text NOT NULL,
    provider_id   text NOT NULL,
    province      text NOT NULL,
    site_id       text NOT NULL,
    gpu_model     text NOT NULL,
    samples       integer NOT NULL CHECK (samples > 0),
    listed_gpus   bigint NOT NULL CHECK (listed_gpus >= 0),
    booked_gpus   bigint NOT NULL CHECK (booked_gpus >= 0),
    PRIMARY KEY (grain, bucket, pool_id)
);
CREATE INDEX history_utilization_by_provider ON history_utilization (provider_id, grain, bucket);

-- Fills made in the bucket (reservations by the time they were filled), per pool.
CREATE TABLE history_fills (
    grain         text NOT NULL CHECK (grain IN ('minute', 'hour')),
    bucket        timestamptz NOT NULL,
    pool_id       text NOT NULL,
    provider_id   text NOT NULL,
    province      text NOT NULL,
    fills         bigint NOT NULL CHECK (fills >= 0),
    gpu_hours     bigint NOT NULL CHECK (gpu_hours >= 0),
    voucher_fen   bigint NOT NULL CHECK (voucher_fen >= 0),
    cash_fen      bigint NOT NULL CHECK (cash_fen >= 0),
    PRIMARY KEY (grain, bucket, pool_id)
);
CREATE INDEX history_fills_by_provider ON history_fills (provider_id, grain, bucket);

-- A programme's money at the end of the bucket, per programme (with its city): issued, held, spent, returned and, of
-- the returned, what lapsed. An hour row keeps its last minute (as_of).
CREATE TABLE history_takeup (
    grain         text NOT NULL CHECK (grain IN ('minute', 'hour')),
    bucket        timestamptz NOT NULL,
    program_id    text NOT NULL,
    city          text NOT NULL,
    as_of         timestamptz NOT NULL,
    issued_fen    bigint NOT NULL,
    held_fen      bigint NOT NULL,
    spent_fen     bigint NOT NULL,
    returned_fen  bigint NOT NULL,
    lapsed_fen    bigint NOT NULL,
    PRIMARY KEY (grain, bucket, program_id)
);

-- The rollup finds recent fills by the time they were made.
CREATE INDEX reservations_by_creation ON reservations (created_at);
