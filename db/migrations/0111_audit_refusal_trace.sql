-- A refusal's count carries the trace id of the request it keeps as its example, as each audit_log entry carries its own:
-- an operator can follow one refused request of the count (a token endpoint refusal above all) through the logs.
ALTER TABLE audit_refusals ADD COLUMN trace_id text;
