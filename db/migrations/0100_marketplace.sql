-- The marketplace's own tables. Money is bigint fen (1 CNY = 100 fen); times are timestamptz (UTC).

-- Voucher programs --------------------------------------------------------------------------------------------

CREATE TABLE programs (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    province         text NOT NULL,
    definition       jsonb NOT NULL,
    definition_hash  text NOT NULL,
    budget_fen       bigint NOT NULL CHECK (budget_fen > 0),
    issued_fen       bigint NOT NULL DEFAULT 0 CHECK (issued_fen >= 0),
    returned_fen     bigint NOT NULL DEFAULT 0 CHECK (returned_fen >= 0),
    created_at       timestamptz NOT NULL,
    -- Rule 1: total issued never exceeds the budget, whatever the application does.
    CONSTRAINT programs_budget_never_exceeded CHECK (issued_fen - returned_fen <= budget_fen),
    CONSTRAINT programs_returned_not_above_issued CHECK (returned_fen <= issued_fen)
);

CREATE TABLE program_provider_notices (
    program_id      text NOT NULL REFERENCES programs (id),
    batch_id        text NOT NULL,
    provider_id     text NOT NULL,
    approved        boolean NOT NULL,
    effective_from  timestamptz NOT NULL,
    published_at    timestamptz NOT NULL,
    PRIMARY KEY (program_id, batch_id, provider_id)
);

-- Vouchers ----------------------------------------------------------------------------------------------------

CREATE TABLE vouchers (
    id                     text PRIMARY KEY,
    program_id             text NOT NULL REFERENCES programs (id),
    tenant_id              text NOT NULL,
    tenant_kind            text NOT NULL,
    tenant_province        text NOT NULL,
    claim_key              text NOT NULL,
    state                  text NOT NULL CHECK (state IN ('Claimed', 'Active', 'Exhausted', 'Expired', 'Lapsed')),
    face_value_fen         bigint NOT NULL CHECK (face_value_fen > 0),
    held_fen               bigint NOT NULL DEFAULT 0 CHECK (held_fen >= 0),
    captured_fen           bigint NOT NULL DEFAULT 0 CHECK (captured_fen >= 0),
    returned_fen           bigint NOT NULL DEFAULT 0 CHECK (returned_fen >= 0),
    coverage_bps           integer NOT NULL CHECK (coverage_bps BETWEEN 1 AND 10000),
    validity_days          integer NOT NULL CHECK (validity_days > 0),
    stackable              boolean NOT NULL,
    exclusive              boolean NOT NULL,
    claimed_at             timestamptz NOT NULL,
    registration_deadline  timestamptz NOT NULL,
    registered_at          timestamptz,
    expires_at             timestamptz,
    ended_at               timestamptz,
    activity               jsonb,
    version                bigint NOT NULL,
    -- Rule 1: holds + captures never exceed the face value.
    CONSTRAINT vouchers_never_overdrawn CHECK (held_fen + captured_fen + returned_fen <= face_value_fen)
);

-- Rule 2: one open voucher per tenant per program, unless the program allows more.
CREATE UNIQUE INDEX vouchers_one_open_per_tenant ON vouchers (program_id, tenant_id)
    WHERE exclusive AND state IN ('Claimed', 'Active');
CREATE UNIQUE INDEX vouchers_claim_key ON vouchers (program_id, tenant_id, claim_key);
CREATE INDEX vouchers_registration_due ON vouchers (registration_deadline) WHERE state = 'Claimed';
CREATE INDEX vouchers_expiry_due ON vouchers (expires_at) WHERE state = 'Active';
CREATE INDEX vouchers_by_tenant ON vouchers (tenant_id);
CREATE INDEX vouchers_by_program ON vouchers (program_id);

CREATE TABLE voucher_holds (
    voucher_id       text NOT NULL REFERENCES vouchers (id),
    reservation_id   text NOT NULL,
    state            text NOT NULL CHECK (state IN ('Held', 'Captured', 'Released')),
    rental_cost_fen  bigint NOT NULL CHECK (rental_cost_fen >= 0),
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    captured_fen     bigint NOT NULL DEFAULT 0 CHECK (captured_fen >= 0 AND captured_fen <= amount_fen),
    provider_id      text NOT NULL,
    stackable        boolean NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (voucher_id, reservation_id)
);

-- Rule 3: a reservation is funded by at most one voucher unless every program involved allows stacking.
CREATE UNIQUE INDEX voucher_holds_one_funder ON voucher_holds (reservation_id)
    WHERE NOT stackable AND state <> 'Released';

-- Double-entry ledger -----------------------------------------------------------------------------------------
-- A transaction's id is derived from its business key (e.g. 'hold:<voucher>:<reservation>'), so a retried
-- operation can never post twice. Entries of one transaction sum to zero; the database refuses anything else.

CREATE TABLE ledger_transactions (
    id              text PRIMARY KEY,
    seq             bigserial UNIQUE,
    kind            text NOT NULL,
    program_id      text,
    voucher_id      text,
    reservation_id  text,
    description     text NOT NULL,
    posted_at       timestamptz NOT NULL
);
CREATE INDEX ledger_transactions_by_program ON ledger_transactions (program_id, seq);
CREATE INDEX ledger_transactions_by_voucher ON ledger_transactions (voucher_id);

CREATE TABLE ledger_entries (
    transaction_id  text NOT NULL REFERENCES ledger_transactions (id),
    line            smallint NOT NULL,
    account         text NOT NULL,
    amount_fen      bigint NOT NULL CHECK (amount_fen <> 0),
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account);

CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx_id text;
    total bigint;
    lines integer;
BEGIN
    -- Separate statements: PL/pgSQL plans each on its own, and NEW differs between the two tables.
    IF TG_TABLE_NAME = 'ledger_entries' THEN
        tx_id := NEW.transaction_id;
    ELSE
        tx_id := NEW.id;
    END IF;
    SELECT coalesce(sum(amount_fen), 0), count(*) INTO total, lines
    FROM ledger_entries WHERE transaction_id = tx_id;
    IF total <> 0 OR lines < 2 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to % fen', tx_id, lines, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    RETURN NULL;
END;
$$;

-- Checked at commit, after every entry of the transaction is in.
CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced
    AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- Capacity, bids and reservations -----------------------------------------------------------------------------
-- Each row is the persisted state of one grain: a few columns to query by, the full state as jsonb, and a
-- version that every write checks, so a stale activation cannot overwrite a newer state.

CREATE TABLE pools (
    id            text PRIMARY KEY,
    provider_id   text NOT NULL,
    gpu_model     text NOT NULL,
    province      text NOT NULL,
    site_id       text NOT NULL,
    gpu_count     integer NOT NULL CHECK (gpu_count > 0),
    ask_fen       bigint NOT NULL CHECK (ask_fen > 0),
    state_json    jsonb NOT NULL,
    version       bigint NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX pools_by_model ON pools (gpu_model);
CREATE INDEX pools_by_provider ON pools (provider_id);

CREATE TABLE bids (
    id                 text PRIMARY KEY,
    tenant_id          text NOT NULL,
    gpu_model          text NOT NULL,
    state              text NOT NULL CHECK (state IN ('Pending', 'Resting', 'Filled', 'PartiallyFilled', 'Cancelled', 'Expired', 'Rejected')),
    order_hash         text NOT NULL,
    good_until         timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    version            bigint NOT NULL,
    state_json         jsonb NOT NULL
);
CREATE INDEX bids_resting ON bids (gpu_model, created_at) WHERE state IN ('Pending', 'Resting');
CREATE INDEX bids_by_tenant ON bids (tenant_id, created_at DESC);

CREATE TABLE reservations (
    id              text PRIMARY KEY,
    bid_id          text NOT NULL,
    tenant_id       text NOT NULL,
    pool_id         text NOT NULL,
    provider_id     text NOT NULL,
    gpu_model       text NOT NULL,
    voucher_id      text,
    state           text NOT NULL CHECK (state IN ('Pending', 'Confirmed', 'Active', 'Completed', 'Cancelled', 'Interrupted', 'Failed')),
    start_hour      bigint NOT NULL,
    end_hour        bigint NOT NULL,
    -- Hours from here on were given back (cancellation, outage); capacity is taken only before it.
    released_from_hour bigint NOT NULL,
    gpus            integer NOT NULL CHECK (gpus > 0),
    settled         boolean NOT NULL DEFAULT false,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL,
    state_json      jsonb NOT NULL,
    CHECK (end_hour > start_hour)
);
CREATE INDEX reservations_unfinished ON reservations (state, starts_at, ends_at)
    WHERE state IN ('Pending', 'Confirmed', 'Active') OR (state = 'Interrupted' AND NOT settled);
CREATE INDEX reservations_by_pool ON reservations (pool_id, start_hour);
CREATE INDEX reservations_by_tenant ON reservations (tenant_id, created_at DESC);
CREATE INDEX reservations_by_bid ON reservations (bid_id);

-- Web tier ----------------------------------------------------------------------------------------------------

CREATE TABLE idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer NOT NULL,
    content_type  text,
    body          bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    subject     text NOT NULL,
    role        text NOT NULL,
    action      text NOT NULL,
    resource    text NOT NULL,
    outcome     text NOT NULL,
    status_code integer NOT NULL,
    detail      text
);
CREATE INDEX audit_log_by_time ON audit_log (at DESC);
