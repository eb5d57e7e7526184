-- Rule 3 approves a company, not a provider id: a notice names the company by its unified social credit code (USCC), and
-- the approval applies to every site the company lists. A notice published by provider id before this migration takes
-- the code that provider registered; one whose provider registered before codes were kept here is resolved by the
-- programme the next time it loads its notices (it asks the provider), and until then approves nobody.
ALTER TABLE program_provider_notices ADD COLUMN credit_code text CHECK (credit_code IS NULL OR length(credit_code) = 18);
UPDATE program_provider_notices n SET credit_code = c.credit_code
    FROM company_credit_codes c WHERE c.party = 'provider' AND c.party_id = n.provider_id;
-- A notice may name a company that has not registered as a provider yet (the office publishes its list as it stands).
ALTER TABLE program_provider_notices DROP CONSTRAINT program_provider_notices_pkey;
ALTER TABLE program_provider_notices ALTER COLUMN provider_id DROP NOT NULL;
CREATE UNIQUE INDEX program_provider_notices_one_per_company ON program_provider_notices (program_id, batch_id, credit_code);
CREATE UNIQUE INDEX program_provider_notices_one_per_provider ON program_provider_notices (program_id, batch_id, provider_id);
