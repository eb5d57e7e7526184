-- One fill in one transaction, as plain SQL: check-and-decrement the capacity of every hour of the slot range (a gang of
-- 1-4 GPUs for 1-4 hours), insert the reservation, debit the voucher's share (half the cost) and post a balanced ledger
-- transaction. The UPDATE's row-count check is what the market's capacity authority does in memory; here the CHECK
-- constraint refuses an overfilled hour and the transaction fails.
\set pool random(1, 36)
\set hour random(1, 300)
\set hours random(1, 4)
\set gpus random(1, 4)
\set voucher random(1, 1000)
\set cost 1000 * :gpus * :hours
\set share :cost / 2
BEGIN;
UPDATE pb_pool_hours SET used = used + :gpus WHERE pool_id = :pool AND hour >= :hour AND hour < :hour + :hours;
INSERT INTO pb_reservations (pool_id, start_hour, hours, gpus, voucher_id, voucher_fen, cash_fen)
VALUES (:pool, :hour, :hours, :gpus, :voucher, :share, :cost - :share) RETURNING id AS reservation \gset
UPDATE pb_vouchers SET held_fen = held_fen + :share, version = version + 1 WHERE id = :voucher;
INSERT INTO pb_ledger_transactions (kind, reservation_id) VALUES ('hold', :reservation) RETURNING id AS tx \gset
INSERT INTO pb_ledger_entries (transaction_id, account, amount_fen)
VALUES (:tx, 'voucher:' || :voucher || ':available', -:share), (:tx, 'voucher:' || :voucher || ':held', :share);
END;
