-- The text a seal hashes, unchanged (migration 0109 defines it), now built by a PL/pgSQL function. The SQL function it
-- replaces was parsed and planned again on every call, and so was each of its thirteen or more calls of ledger_field:
-- sealing cost PostgreSQL more than the fills it sealed. PL/pgSQL keeps its plan for the session, and the fields are
-- written out here, each as ledger_field gives it: its length in characters, a colon and the text, or '-' for no value.
CREATE OR REPLACE FUNCTION ledger_canonical(tx_id text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    canonical text;
BEGIN
    SELECT
        CASE WHEN t.id IS NULL THEN '-' ELSE length(t.id) || ':' || t.id END
        || CASE WHEN t.kind IS NULL THEN '-' ELSE length(t.kind) || ':' || t.kind END
        || CASE WHEN t.program_id IS NULL THEN '-' ELSE length(t.program_id) || ':' || t.program_id END
        || CASE WHEN t.voucher_id IS NULL THEN '-' ELSE length(t.voucher_id) || ':' || t.voucher_id END
        || CASE WHEN t.reservation_id IS NULL THEN '-' ELSE length(t.reservation_id) || ':' || t.reservation_id END
        || CASE WHEN t.description IS NULL THEN '-' ELSE length(t.description) || ':' || t.description END
        || (SELECT CASE WHEN p IS NULL THEN '-' ELSE length(p) || ':' || p END
            FROM (SELECT to_char(t.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS p) posted)
        || coalesce((SELECT string_agg(
                length(e.line::text) || ':' || e.line::text
                || CASE WHEN e.account IS NULL THEN '-' ELSE length(e.account) || ':' || e.account END
                || length(e.amount_fen::text) || ':' || e.amount_fen::text, '' ORDER BY e.line)
            FROM ledger_entries e WHERE e.transaction_id = t.id), '')
    INTO canonical
    FROM ledger_transactions t WHERE t.id = tx_id;
    RETURN canonical;
END;
$$;
