-- Where an audited request came from: the client's address, its user agent and the request's trace id.
ALTER TABLE audit_log ADD COLUMN address text, ADD COLUMN user_agent text, ADD COLUMN trace_id text;

-- Refused requests are counted per caller, action, status and minute: a flood of refusals is a few rows, not a row each.
CREATE TABLE audit_refusals (
    id          bigserial PRIMARY KEY,
    minute      timestamptz NOT NULL,
    subject     text NOT NULL,
    caller      text NOT NULL,
    role        text NOT NULL,
    action      text NOT NULL,
    status_code integer NOT NULL,
    count       integer NOT NULL CHECK (count > 0),
    example     text NOT NULL,
    address     text,
    user_agent  text
);
CREATE INDEX audit_refusals_by_time ON audit_refusals (minute DESC);

-- The trail is append-only for every role, the application's included: what was recorded cannot be edited or removed.
CREATE FUNCTION audit_trail_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_is_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_is_append_only();
CREATE TRIGGER audit_refusals_is_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_is_append_only();
