-- The company is the unit of the rules. A unified social credit code (USCC) identifies one company, so it is held by at
-- most one tenant and at most one provider (a company may both rent and sell GPU time: the related-party rule relies on
-- it). The grains check this before they register; the primary key is the last line of defence between two racing
-- registrations.
CREATE TABLE company_credit_codes (
    party          text NOT NULL CHECK (party IN ('tenant', 'provider')),
    credit_code    text NOT NULL CHECK (length(credit_code) = 18),
    party_id       text NOT NULL,
    registered_at  timestamptz NOT NULL,
    PRIMARY KEY (party, credit_code)
);
CREATE UNIQUE INDEX company_credit_codes_one_per_party ON company_credit_codes (party, party_id);

-- A voucher remembers the company it was issued to (null for a startup team without a code) and the related parties
-- the company had declared at the claim: a later change to the tenant can add related parties, never remove them.
ALTER TABLE vouchers ADD COLUMN tenant_credit_code text;
ALTER TABLE vouchers ADD COLUMN related_parties text[] NOT NULL DEFAULT '{}';

-- Rule 2: one open voucher per company (USCC) per program, unless the program allows more. A startup team without a
-- code is its own company. Vouchers claimed before this migration have no code and stay keyed by their tenant.
CREATE UNIQUE INDEX vouchers_one_open_per_company ON vouchers (program_id, coalesce(tenant_credit_code, 'tenant:' || tenant_id))
    WHERE exclusive AND state IN ('Claimed', 'Active');

-- The programme office's queue: every tenant's and provider's registration with its verification state. The grains
-- keep the state; this row is what the regulator lists, with the changes since the last verification (before/after).
CREATE TABLE companies (
    party          text NOT NULL CHECK (party IN ('tenant', 'provider')),
    party_id       text NOT NULL,
    name           text NOT NULL,
    credit_code    text,
    state          text NOT NULL CHECK (state IN ('Pending', 'Verified', 'Rejected')),
    revision       integer NOT NULL CHECK (revision > 0),
    registration   jsonb NOT NULL,
    changes        jsonb NOT NULL,
    reason         text,
    reviewed_by    text,
    reviewed_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (party, party_id)
);
CREATE INDEX companies_by_state ON companies (state, updated_at);
