-- Rule 1: "valid for three months" is three calendar months in Beijing time. A voucher keeps its program's months (null
-- when the program gives days only) as it keeps its days, so its expiry is fixed by the terms it was claimed under.
ALTER TABLE vouchers ADD COLUMN validity_months integer CHECK (validity_months > 0);
