-- Take-up reads the compute each programme's vouchers funded from the reservations they pay for: by voucher, so the read
-- does not scan every reservation (most are paid in cash and have none).
CREATE INDEX reservations_by_voucher ON reservations (voucher_id) WHERE voucher_id IS NOT NULL;
