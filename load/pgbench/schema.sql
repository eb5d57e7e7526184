-- The SQL-only equivalent of the market's fill path, on tables of its own, for a pgbench baseline (see fill.sql).
-- 36 pools with 336 hourly slots of 1,024 GPUs each, and 1,000 vouchers, as in the load tool's bench market.
DROP TABLE IF EXISTS pb_ledger_entries, pb_ledger_transactions, pb_reservations, pb_vouchers, pb_pool_hours;

CREATE TABLE pb_pool_hours (
    pool_id int NOT NULL,
    hour int NOT NULL,
    capacity int NOT NULL,
    used int NOT NULL DEFAULT 0 CHECK (used <= capacity),
    PRIMARY KEY (pool_id, hour));

CREATE TABLE pb_vouchers (
    id int PRIMARY KEY,
    face_fen bigint NOT NULL,
    held_fen bigint NOT NULL DEFAULT 0 CHECK (held_fen <= face_fen),
    version bigint NOT NULL DEFAULT 0);

CREATE TABLE pb_reservations (
    id bigserial PRIMARY KEY,
    pool_id int NOT NULL,
    start_hour int NOT NULL,
    hours int NOT NULL,
    gpus int NOT NULL,
    voucher_id int NOT NULL REFERENCES pb_vouchers (id),
    voucher_fen bigint NOT NULL,
    cash_fen bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE pb_ledger_transactions (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    reservation_id bigint NOT NULL REFERENCES pb_reservations (id),
    created_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE pb_ledger_entries (
    transaction_id bigint NOT NULL REFERENCES pb_ledger_transactions (id),
    account text NOT NULL,
    amount_fen bigint NOT NULL,
    PRIMARY KEY (transaction_id, account));

INSERT INTO pb_pool_hours (pool_id, hour, capacity)
SELECT p, h, 1024 FROM generate_series(1, 36) p, generate_series(1, 336) h;

INSERT INTO pb_vouchers (id, face_fen) SELECT v, 1000000000000 FROM generate_series(1, 1000) v;

VACUUM ANALYZE;
