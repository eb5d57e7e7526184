-- A company's unsettled holdings are capped (Market:MaxUnsettledFenPerTenant): the cost of its reservations whose cash hold
-- is still open, kept on its cash row so the fill's guarded UPDATE checks the cap in the same statement that holds the cash.
-- Each cash hold records the cost it stands for, so the close gives exactly that back.
ALTER TABLE tenant_cash ADD COLUMN unsettled_fen bigint NOT NULL DEFAULT 0 CHECK (unsettled_fen >= 0);
ALTER TABLE cash_holds ADD COLUMN cost_fen bigint NOT NULL DEFAULT 0 CHECK (cost_fen >= 0);
