-- Tamper evidence for the ledger. Each ledger transaction is sealed into the hash chain of its programme (the chain ''
-- holds the postings that belong to no programme, such as a rental paid wholly in cash):
--   hash = SHA-256(previous hash in the chain || UTF-8 of the transaction's canonical text)
-- The first seal of a chain follows the chain's genesis hash, SHA-256('genesis:' || chain). A row changed after it was
-- sealed no longer matches its hash, and every later hash of its chain depends on it.
--
-- Sealing runs just after commit, not inside the posting's transaction: it needs the chain's head, and taking that lock in
-- every posting would serialise all postings of a programme and let batches that touch two programmes deadlock. A
-- posting waits in ledger_unsealed (filled by a trigger in the same transaction) until ledger_seal() chains it.

CREATE TABLE ledger_unsealed (
    transaction_id  text PRIMARY KEY REFERENCES ledger_transactions (id),
    seq             bigint NOT NULL
);

CREATE TABLE ledger_seals (
    transaction_id  text PRIMARY KEY REFERENCES ledger_transactions (id),
    chain           text NOT NULL,
    chain_seq       bigint NOT NULL CHECK (chain_seq > 0),
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    sealed_at       timestamptz NOT NULL,
    UNIQUE (chain, chain_seq)
);

CREATE TRIGGER ledger_seals_append_only BEFORE UPDATE OR DELETE ON ledger_seals
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- Row triggers do not see TRUNCATE: the ledger and its seals refuse it as a statement.
CREATE TRIGGER ledger_seals_never_truncated BEFORE TRUNCATE ON ledger_seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_entries_never_truncated BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_transactions_never_truncated BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

CREATE FUNCTION ledger_queue_for_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_unsealed (transaction_id, seq) VALUES (NEW.id, NEW.seq);
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_transactions_queue_for_seal AFTER INSERT ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_queue_for_seal();

-- One field of the text a seal hashes: its length in characters, a colon and the text, or '-' for no value. The length
-- keeps the fields apart whatever they contain, and an empty text differs from none.
CREATE FUNCTION ledger_field(value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '-' ELSE length(value) || ':' || value END
$$;

-- The text a seal hashes: every field of the transaction, then every entry (line, account, amount), each field as
-- ledger_field gives it, in a fixed order; times are UTC with microseconds. The evidence pack prints it, so anyone can
-- check a hash with any SHA-256 tool.
CREATE FUNCTION ledger_canonical(tx_id text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT ledger_field(t.id) || ledger_field(t.kind) || ledger_field(t.program_id) || ledger_field(t.voucher_id)
           || ledger_field(t.reservation_id) || ledger_field(t.description)
           || ledger_field(to_char(t.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
           || coalesce((SELECT string_agg(ledger_field(e.line::text) || ledger_field(e.account) || ledger_field(e.amount_fen::text), '' ORDER BY e.line)
                        FROM ledger_entries e WHERE e.transaction_id = t.id), '')
    FROM ledger_transactions t WHERE t.id = tx_id
$$;

CREATE FUNCTION ledger_genesis(chain text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to('genesis:' || chain, 'UTF8'))
$$;

-- Chains up to max_rows waiting postings, oldest first; returns how many it sealed. One sealer at a time (an advisory
-- lock), so two processes calling it cannot fork a chain; the unique (chain, chain_seq) refuses a fork regardless.
CREATE FUNCTION ledger_seal(max_rows integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    waiting record;
    head record;
    prev bytea;
    next_seq bigint;
    sealed integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ledger_seal'));
    FOR waiting IN
        SELECT u.transaction_id, coalesce(t.program_id, '') AS chain
        FROM ledger_unsealed u JOIN ledger_transactions t ON t.id = u.transaction_id
        ORDER BY u.seq LIMIT max_rows
    LOOP
        SELECT s.chain_seq, s.hash INTO head FROM ledger_seals s WHERE s.chain = waiting.chain ORDER BY s.chain_seq DESC LIMIT 1;
        IF FOUND THEN
            prev := head.hash;
            next_seq := head.chain_seq + 1;
        ELSE
            prev := ledger_genesis(waiting.chain);
            next_seq := 1;
        END IF;
        INSERT INTO ledger_seals (transaction_id, chain, chain_seq, prev_hash, hash, sealed_at)
        VALUES (waiting.transaction_id, waiting.chain, next_seq, prev,
                sha256(prev || convert_to(ledger_canonical(waiting.transaction_id), 'UTF8')), now());
        DELETE FROM ledger_unsealed WHERE transaction_id = waiting.transaction_id;
        sealed := sealed + 1;
    END LOOP;
    RETURN sealed;
END;
$$;

-- Walks a chain (or every chain, when only_chain is null) from its genesis and reports each seal that does not hold:
-- a transaction whose text no longer gives its hash, a seal that does not follow the one before, a gap, or a sealed
-- transaction that is gone. Also reports postings that are neither sealed nor waiting to be.
CREATE FUNCTION ledger_verify(only_chain text)
RETURNS TABLE (chain text, chain_seq bigint, transaction_id text, problem text) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    seal record;
    current_chain text := NULL;
    expected_prev bytea;
    expected_seq bigint;
    canonical text;
BEGIN
    FOR seal IN
        SELECT s.* FROM ledger_seals s WHERE only_chain IS NULL OR s.chain = only_chain ORDER BY s.chain, s.chain_seq
    LOOP
        IF current_chain IS DISTINCT FROM seal.chain THEN
            current_chain := seal.chain;
            expected_prev := ledger_genesis(seal.chain);
            expected_seq := 1;
        END IF;
        canonical := ledger_canonical(seal.transaction_id);
        -- Each check on its own: one fault must not hide another in the same seal.
        IF seal.chain_seq <> expected_seq THEN
            RETURN QUERY SELECT seal.chain, seal.chain_seq, seal.transaction_id, format('seal %s follows seal %s: a seal is missing', seal.chain_seq, expected_seq - 1);
        END IF;
        IF seal.prev_hash <> expected_prev THEN
            RETURN QUERY SELECT seal.chain, seal.chain_seq, seal.transaction_id, 'the seal does not follow the one before it'::text;
        END IF;
        IF canonical IS NULL THEN
            RETURN QUERY SELECT seal.chain, seal.chain_seq, seal.transaction_id, 'the sealed transaction is gone'::text;
        ELSIF sha256(seal.prev_hash || convert_to(canonical, 'UTF8')) <> seal.hash THEN
            RETURN QUERY SELECT seal.chain, seal.chain_seq, seal.transaction_id, 'the transaction or its entries differ from what was sealed'::text;
        END IF;
        expected_prev := seal.hash;
        expected_seq := seal.chain_seq + 1;
    END LOOP;
    RETURN QUERY
        SELECT coalesce(t.program_id, ''), NULL::bigint, t.id, 'the transaction is neither sealed nor waiting to be'::text
        FROM ledger_transactions t
        WHERE (only_chain IS NULL OR coalesce(t.program_id, '') = only_chain)
          AND NOT EXISTS (SELECT 1 FROM ledger_seals s WHERE s.transaction_id = t.id)
          AND NOT EXISTS (SELECT 1 FROM ledger_unsealed u WHERE u.transaction_id = t.id);
END;
$$;

-- Postings made before this migration wait for their seals like new ones, in the order they were posted.
INSERT INTO ledger_unsealed (transaction_id, seq) SELECT id, seq FROM ledger_transactions;
