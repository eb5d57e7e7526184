-- One fill per transaction through ref_fill (reference.sql): a gang of 1-4 GPUs for 1-4 hours on one of 36 pools, a
-- tenth of the fills paid partly by one of 1,000 vouchers (the load tool's default voucher share).
\set key random(1, 1000000000000000)
\set tenant random(1, 1000)
\set pool random(1, 36)
\set hour random(1, 300)
\set hours random(1, 4)
\set gpus random(1, 4)
\set paid random(1, 10)
\set voucher case when :paid = 1 then random(1, 1000) else 0 end
SELECT ref_fill(:key, :tenant, :pool, :hour, :hours, :gpus, :voucher);
