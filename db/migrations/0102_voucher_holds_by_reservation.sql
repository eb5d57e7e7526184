-- A voucher asks, before it funds a reservation, which other vouchers already fund it; answer that from an index.
CREATE INDEX voucher_holds_by_reservation ON voucher_holds (reservation_id) WHERE state <> 'Released';
