-- Rule 8: cash is prepaid and held like voucher money. A company's prepaid balance is one row per tenant (a credit code
-- registers once), so a fill checks and holds the cash share in one guarded UPDATE; the ledger (tenant:T:cash and
-- tenant:T:cash-held) stays the truth and the invariant checker compares the two.
CREATE TABLE tenant_cash (
    tenant_id      text PRIMARY KEY,
    available_fen  bigint NOT NULL DEFAULT 0 CHECK (available_fen >= 0),
    held_fen       bigint NOT NULL DEFAULT 0 CHECK (held_fen >= 0),
    version        bigint NOT NULL DEFAULT 0
);

-- The cash held for one reservation: Held from the fill until it is Captured (settlement) or Released (cancellation,
-- interruption before the start); captured_fen is what went to the provider, the rest returned to the tenant.
CREATE TABLE cash_holds (
    reservation_id  text PRIMARY KEY,
    tenant_id       text NOT NULL,
    state           text NOT NULL CHECK (state IN ('Held', 'Captured', 'Released')),
    amount_fen      bigint NOT NULL CHECK (amount_fen >= 0),
    captured_fen    bigint NOT NULL DEFAULT 0 CHECK (captured_fen >= 0 AND captured_fen <= amount_fen),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX cash_holds_held_by_tenant ON cash_holds (tenant_id) WHERE state = 'Held';
