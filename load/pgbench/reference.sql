-- The fair plain-SQL reference for the market's fill: the same business fill the system writes, on the system's own
-- schema (a database migrated like the marketplace's, with every constraint and trigger), as one PL/pgSQL function
-- called once per transaction. pgbench calls it with prepared statements over the Unix socket (reference-fill.sql).
-- A fill writes, as the system does: the request's idempotency key with the stored answer, the bid in its final state,
-- the confirmed reservation, the capacity hold and, for a voucher fill, the voucher's hold with its balanced ledger
-- posting. Plain SQL has no market in memory, so it also checks the capacity of every hour in the database (the
-- guarded UPDATE below); the system checks it in memory.
-- 36 pools with 336 hourly slots of 1,024 GPUs each and 1,000 active vouchers, as in the load tool's bench market.

INSERT INTO programs (id, name, province, definition, definition_hash, budget_fen, issued_fen, created_at)
VALUES ('ref', 'Reference programme', 'Beijing', '{}', 'ref', 1000000000000000, 100000000000000, now());

INSERT INTO pools (id, provider_id, gpu_model, province, site_id, gpu_count, ask_fen, state_json, version, updated_at)
SELECT 'ref-pool-' || p, 'ref-prov-' || p, 'H800-80G', 'Gansu', 'site-1', 1024, 1000, '{}', 1, now() FROM generate_series(1, 36) p;

CREATE TABLE ref_pool_hours (
    pool_id   text NOT NULL,
    hour      integer NOT NULL,
    capacity  integer NOT NULL,
    used      integer NOT NULL DEFAULT 0 CHECK (used <= capacity),
    PRIMARY KEY (pool_id, hour));
INSERT INTO ref_pool_hours (pool_id, hour, capacity) SELECT 'ref-pool-' || p, h, 1024 FROM generate_series(1, 36) p, generate_series(1, 336) h;

INSERT INTO vouchers (id, program_id, tenant_id, tenant_kind, tenant_province, claim_key, state, face_value_fen, coverage_bps, validity_days,
                      stackable, exclusive, claimed_at, registration_deadline, registered_at, expires_at, version)
SELECT 'ref-v-' || v, 'ref', 'ref-t-' || v, 'Sme', 'Beijing', 'k', 'Active', 100000000000, 8000, 90, false, false, now(), now() + interval '15 days',
       now(), now() + interval '90 days', 1
FROM generate_series(1, 1000) v;

CREATE FUNCTION ref_fill(p_key bigint, p_tenant integer, p_pool integer, p_hour integer, p_hours integer, p_gpus integer, p_voucher integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_bid text := 'ref-b-' || p_key;
    v_reservation text := 'ref-b-' || p_key || '-1';
    v_pool text := 'ref-pool-' || p_pool;
    v_tenant text := 'ref-t-' || p_tenant;
    v_voucher text := CASE WHEN p_voucher > 0 THEN 'ref-v-' || p_voucher END;
    v_cost bigint := 1000::bigint * p_gpus * p_hours;
    v_share bigint := CASE WHEN p_voucher > 0 THEN 1000::bigint * p_gpus * p_hours * 8000 / 10000 ELSE 0 END;
    v_starts timestamptz := to_timestamp(p_hour * 3600.0);
    v_state jsonb;
    v_slots integer;
BEGIN
    UPDATE ref_pool_hours SET used = used + p_gpus WHERE pool_id = v_pool AND hour >= p_hour AND hour < p_hour + p_hours;
    GET DIAGNOSTICS v_slots = ROW_COUNT;
    IF v_slots <> p_hours THEN
        RAISE EXCEPTION 'pool % has no hours % to %', v_pool, p_hour, p_hour + p_hours;
    END IF;
    v_state := jsonb_build_object('tenantId', v_tenant, 'order', jsonb_build_object('gpuModel', 'H800-80G', 'gpuCount', p_gpus, 'durationHours', p_hours,
        'earliestStart', v_starts, 'latestStart', v_starts, 'maxFenPerGpuHour', 1200, 'voucherId', v_voucher, 'timeInForce', 'Ioc'),
        'state', 'Filled', 'fills', jsonb_build_array(jsonb_build_object('reservationId', v_reservation, 'poolId', v_pool, 'startsAt', v_starts,
        'gpus', p_gpus, 'fenPerGpuHour', 1000, 'costFen', v_cost, 'voucherFen', v_share, 'cashFen', v_cost - v_share)));
    INSERT INTO bids (id, tenant_id, gpu_model, state, order_hash, good_until, created_at, updated_at, version, state_json)
    VALUES (v_bid, v_tenant, 'H800-80G', 'Filled', md5(v_bid), NULL, now(), now(), 1, v_state);
    INSERT INTO reservations (id, bid_id, tenant_id, pool_id, provider_id, gpu_model, voucher_id, state, start_hour, end_hour, released_from_hour,
                              gpus, starts_at, ends_at, created_at, updated_at, version, state_json)
    VALUES (v_reservation, v_bid, v_tenant, v_pool, 'ref-prov-' || p_pool, 'H800-80G', v_voucher, 'Confirmed', p_hour, p_hour + p_hours,
            p_hour + p_hours, p_gpus, v_starts, v_starts + p_hours * interval '1 hour', now(), now(), 1,
            jsonb_build_object('plan', v_state -> 'fills' -> 0, 'state', 'Confirmed', 'voucherFen', v_share, 'cashFen', v_cost - v_share));
    INSERT INTO pool_holds (pool_id, reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned)
    VALUES (v_pool, v_reservation, p_hour, p_hours, p_gpus, true, NULL, NULL, false);
    IF p_voucher > 0 THEN
        UPDATE vouchers SET held_fen = held_fen + v_share, version = version + 1
        WHERE id = v_voucher AND state = 'Active' AND held_fen + captured_fen + returned_fen + v_share <= face_value_fen;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'voucher % cannot hold % fen', v_voucher, v_share;
        END IF;
        INSERT INTO voucher_holds (voucher_id, reservation_id, state, rental_cost_fen, amount_fen, provider_id, stackable, created_at, updated_at)
        VALUES (v_voucher, v_reservation, 'Held', v_cost, v_share, 'ref-prov-' || p_pool, false, now(), now());
        INSERT INTO ledger_transactions (id, kind, program_id, voucher_id, reservation_id, description, posted_at)
        VALUES ('hold:' || v_voucher || ':' || v_reservation, 'hold', 'ref', v_voucher, v_reservation, 'Hold for reservation ' || v_reservation, now());
        INSERT INTO ledger_entries (transaction_id, line, account, amount_fen)
        VALUES ('hold:' || v_voucher || ':' || v_reservation, 1, 'voucher:' || v_voucher || ':held', v_share),
               ('hold:' || v_voucher || ':' || v_reservation, 2, 'voucher:' || v_voucher || ':available', -v_share);
    END IF;
    INSERT INTO idempotency_keys (principal, key, request_hash, status_code, content_type, body, location, created_at, in_flight)
    VALUES ('sme:' || v_tenant, 'ref-' || p_key, md5(v_state::text), 201, 'application/json', convert_to(v_state::text, 'UTF8'),
            '/api/v1/bids/' || v_bid, now(), NULL);
END;
$$;

VACUUM ANALYZE;
