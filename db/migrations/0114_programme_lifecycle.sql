-- A programme office may raise a programme's budget (each raise a 'fund' posting from its funding account, so the
-- budget always equals what was funded) and close its claims early; vouchers already issued keep their terms.
ALTER TABLE programs ADD COLUMN closed_at timestamptz, ADD COLUMN close_reason text;
