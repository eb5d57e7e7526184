using Npgsql;

namespace Marketplace.Storage;

public sealed record Violation(string Rule, string Subject, string Detail)
{
    public override string ToString() => $"{Rule}: {Subject}: {Detail}";
}

public sealed record InvariantReport(IReadOnlyList<Violation> Violations, IReadOnlyDictionary<string, long> Counts)
{
    public bool Clean => Violations.Count == 0;
}

/// <summary>
/// Checks the marketplace's invariants against a live database, from the stored facts alone:
/// no hour of a pool sold beyond its capacity; every voucher within its face value and equal to its ledger accounts;
/// every program within budget and equal to its ledger;
/// every company's prepaid cash equal to its ledger accounts and its open cash holds; every ledger transaction balanced; every confirmed reservation
/// holding its capacity and funds exactly once; every bid in a valid state with its fills real.
/// </summary>
public sealed class InvariantChecker(NpgsqlDataSource db)
{
    /// <param name="now">Hours before this are history: a pool may have shrunk since.</param>
    /// <param name="acceptedBidIds">Bids a client was told were accepted; each must exist.</param>
    /// <param name="pendingGrace">A bid or reservation pending longer than this is stuck.</param>
    public async Task<InvariantReport> CheckAsync(DateTimeOffset now, IReadOnlyCollection<string>? acceptedBidIds = null,
        TimeSpan? pendingGrace = null, CancellationToken cancellationToken = default)
    {
        var violations = new List<Violation>();
        var counts = new Dictionary<string, long>();
        var stale = now - (pendingGrace ?? TimeSpan.FromMinutes(2));
        var nowHour = Hours.Floor(now);

        async Task Rows(string rule, string sql, Func<NpgsqlDataReader, Violation> map, params (string, object)[] parameters)
        {
            await using var command = db.CreateCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                violations.Add(map(reader));
            }
        }

        async Task Count(string name, string sql)
        {
            await using var command = db.CreateCommand(sql);
            counts[name] = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }

        await Count("pools", "SELECT count(*) FROM pools");
        await Count("bids", "SELECT count(*) FROM bids");
        await Count("reservations", "SELECT count(*) FROM reservations");
        await Count("confirmedReservations", "SELECT count(*) FROM reservations WHERE state IN ('Confirmed', 'Active', 'Completed', 'Interrupted')");
        await Count("vouchers", "SELECT count(*) FROM vouchers");
        await Count("ledgerTransactions", "SELECT count(*) FROM ledger_transactions");

        // Rule 4: per pool and hour, what confirmed reservations take is within what the pool can sell.
        await Rows("capacity", """
            WITH sold AS (
                SELECT r.pool_id, h AS hour, sum(r.gpus) AS gpus
                FROM reservations r, generate_series(r.start_hour, least(r.end_hour, r.released_from_hour) - 1) AS h
                WHERE r.state IN ('Confirmed', 'Active', 'Completed', 'Interrupted') AND h >= @nowHour
                GROUP BY r.pool_id, h),
            outages AS (
                SELECT p.id AS pool_id, o.value AS outage FROM pools p, jsonb_array_elements(p.state_json -> 'outages') o)
            SELECT s.pool_id, s.hour, s.gpus, p.gpu_count,
                   EXISTS (SELECT 1 FROM outages o WHERE o.pool_id = s.pool_id
                           AND s.hour >= floor(extract(epoch FROM (o.outage ->> 'from')::timestamptz) / 3600)
                           AND s.hour < ceil(extract(epoch FROM (o.outage ->> 'to')::timestamptz) / 3600)) AS in_outage
            FROM sold s JOIN pools p ON p.id = s.pool_id
            WHERE s.gpus > p.gpu_count OR EXISTS (
                SELECT 1 FROM outages o WHERE o.pool_id = s.pool_id
                AND s.hour >= floor(extract(epoch FROM (o.outage ->> 'from')::timestamptz) / 3600)
                AND s.hour < ceil(extract(epoch FROM (o.outage ->> 'to')::timestamptz) / 3600))
            """, r => new Violation("capacity", $"pool {r.GetString(0)} hour {r.GetInt64(1)}",
                r.GetBoolean(4) ? $"{r.GetInt64(2)} GPUs sold during an outage" : $"{r.GetInt64(2)} GPUs sold of {r.GetInt32(3)}"),
            ("nowHour", nowHour));

        // Every confirmed reservation is held, confirmed, by its pool for exactly its hours.
        await Rows("capacity-hold", """
            SELECT r.id, r.pool_id, h.reservation_id IS NOT NULL
            FROM reservations r
            LEFT JOIN pool_holds h ON h.pool_id = r.pool_id AND h.reservation_id = r.id
            WHERE r.state IN ('Confirmed', 'Active') AND r.end_hour >= @nowHour - 24
              AND NOT (h.reservation_id IS NOT NULL AND h.confirmed AND h.start_hour = r.start_hour AND h.gpus = r.gpus)
            """, r => new Violation("capacity-hold", $"reservation {r.GetString(0)}",
                r.GetBoolean(2) ? "its pool holds other hours or GPUs, or has not confirmed it" : $"pool {r.GetString(1)} does not hold it"),
            ("nowHour", nowHour));

        // Capacity held for reservations that no longer need it (a compensation that did not happen).
        await Rows("capacity-leak", """
            SELECT h.pool_id, h.reservation_id, r.state
            FROM pool_holds h LEFT JOIN reservations r ON r.id = h.reservation_id
            WHERE h.confirmed AND h.start_hour + h.hours > @nowHour
              AND (r.id IS NULL OR r.state IN ('Failed', 'Cancelled')
                   OR (r.state = 'Interrupted' AND coalesce(h.released_from_hour, 9223372036854775807) > r.released_from_hour))
            """, r => new Violation("capacity-leak", $"pool {r.GetString(0)}",
                $"holds reservation {r.GetString(1)} ({(r.IsDBNull(2) ? "unknown" : r.GetString(2))})"), ("nowHour", nowHour));

        // Rule 1: a voucher's holds and captures within face value, and its row equal to its ledger accounts.
        await Rows("voucher-ledger", """
            WITH balances AS (
                SELECT split_part(account, ':', 2) AS voucher_id, split_part(account, ':', 3) AS kind, sum(amount_fen) AS amount
                FROM ledger_entries WHERE account LIKE 'voucher:%' GROUP BY 1, 2)
            SELECT v.id, v.face_value_fen, v.held_fen, v.captured_fen, v.returned_fen,
                   coalesce(a.amount, 0), coalesce(h.amount, 0), coalesce(s.amount, 0),
                   coalesce((SELECT sum(amount_fen) FROM voucher_holds WHERE voucher_id = v.id AND state = 'Held'), 0),
                   coalesce((SELECT sum(captured_fen) FROM voucher_holds WHERE voucher_id = v.id AND state = 'Captured'), 0)
            FROM vouchers v
            LEFT JOIN balances a ON a.voucher_id = v.id AND a.kind = 'available'
            LEFT JOIN balances h ON h.voucher_id = v.id AND h.kind = 'held'
            LEFT JOIN balances s ON s.voucher_id = v.id AND s.kind = 'spent'
            WHERE v.held_fen + v.captured_fen + v.returned_fen > v.face_value_fen
               OR coalesce(a.amount, 0) <> v.face_value_fen - v.held_fen - v.captured_fen - v.returned_fen
               OR coalesce(h.amount, 0) <> v.held_fen
               OR coalesce(s.amount, 0) <> v.captured_fen
               OR coalesce((SELECT sum(amount_fen) FROM voucher_holds WHERE voucher_id = v.id AND state = 'Held'), 0) <> v.held_fen
               OR coalesce((SELECT sum(captured_fen) FROM voucher_holds WHERE voucher_id = v.id AND state = 'Captured'), 0) <> v.captured_fen
            """, r => new Violation("voucher-ledger", $"voucher {r.GetString(0)}",
                $"face {r.GetInt64(1)}, held {r.GetInt64(2)}, captured {r.GetInt64(3)}, returned {r.GetInt64(4)}; ledger available " +
                $"{r.GetInt64(5)}, held {r.GetInt64(6)}, spent {r.GetInt64(7)}; holds held {r.GetInt64(8)}, captured {r.GetInt64(9)}"));

        // Rule 1: a program within its budget, its budget equal to what was funded, and its issued and returned totals equal to its ledger.
        await Rows("program-ledger", """
            SELECT p.id, p.budget_fen, p.issued_fen, p.returned_fen,
                   coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE t.program_id = p.id AND t.kind = 'claim' AND e.account = 'program:' || p.id || ':budget'), 0) AS claimed,
                   coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE t.program_id = p.id AND t.kind = 'return' AND e.account = 'program:' || p.id || ':budget'), 0) AS returned,
                   coalesce((SELECT sum(face_value_fen) FROM vouchers WHERE program_id = p.id), 0) AS faces
            FROM programs p
            WHERE p.issued_fen - p.returned_fen > p.budget_fen
               OR coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE t.program_id = p.id AND t.kind = 'fund' AND e.account = 'program:' || p.id || ':budget'), 0) <> p.budget_fen
               OR -coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE t.program_id = p.id AND t.kind = 'claim' AND e.account = 'program:' || p.id || ':budget'), 0) <> p.issued_fen
               OR coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE t.program_id = p.id AND t.kind = 'return' AND e.account = 'program:' || p.id || ':budget'), 0) <> p.returned_fen
               OR coalesce((SELECT sum(face_value_fen) FROM vouchers WHERE program_id = p.id), 0) <> p.issued_fen
            """, r => new Violation("program-ledger", $"program {r.GetString(0)}",
                $"budget {r.GetInt64(1)}, issued {r.GetInt64(2)}, returned {r.GetInt64(3)}; ledger claimed {-r.GetInt64(4)}, returned {r.GetInt64(5)}; faces {r.GetInt64(6)}"));

        // Rule 7: every ledger transaction has at least two entries summing to zero.
        await Rows("ledger-balance", """
            SELECT t.id, count(e.*), coalesce(sum(e.amount_fen), 0)
            FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id HAVING count(e.*) < 2 OR coalesce(sum(e.amount_fen), 0) <> 0
            """, r => new Violation("ledger-balance", $"transaction {r.GetString(0)}", $"{r.GetInt64(1)} entries summing to {r.GetInt64(2)}"));

        // Funds: a confirmed reservation's voucher share is held exactly once; a finished one holds nothing.
        await Rows("reservation-funds", """
            SELECT r.id, r.state, (r.state_json ->> 'voucherFen')::bigint, h.state, h.amount_fen
            FROM reservations r
            LEFT JOIN voucher_holds h ON h.reservation_id = r.id AND h.voucher_id = r.voucher_id
            WHERE r.voucher_id IS NOT NULL AND (
                  (r.state IN ('Confirmed', 'Active') AND (r.state_json ->> 'voucherFen')::bigint > 0
                       AND (h.state IS DISTINCT FROM 'Held' OR h.amount_fen <> (r.state_json ->> 'voucherFen')::bigint))
               OR (r.state IN ('Failed', 'Cancelled') AND h.state = 'Held')
               OR (r.state = 'Completed' AND h.state = 'Held'))
            """, r => new Violation("reservation-funds", $"reservation {r.GetString(0)}",
                $"{r.GetString(1)} with voucher share {r.GetInt64(2)}, but its hold is {(r.IsDBNull(3) ? "missing" : r.GetString(3))}"));

        // Rule 8: a company's cash row equals its ledger accounts, nothing is negative, and what is held (and the unsettled cost
        // under the cap) is its open cash holds.
        await Rows("cash-ledger", """
            WITH balances AS (
                SELECT substring(account FROM '^tenant:(.*):cash(?:-held)?$') AS tenant_id,
                       CASE WHEN account LIKE '%:cash-held' THEN 'cash-held' ELSE 'cash' END AS kind, sum(amount_fen) AS amount
                FROM ledger_entries WHERE account LIKE 'tenant:%:cash' OR account LIKE 'tenant:%:cash-held' GROUP BY 1, 2),
            tenants AS (
                SELECT tenant_id FROM tenant_cash UNION SELECT tenant_id FROM balances UNION SELECT tenant_id FROM cash_holds WHERE state = 'Held')
            SELECT t.tenant_id, coalesce(c.available_fen, 0), coalesce(c.held_fen, 0), coalesce(a.amount, 0), coalesce(h.amount, 0),
                   coalesce((SELECT sum(amount_fen) FROM cash_holds WHERE tenant_id = t.tenant_id AND state = 'Held'), 0),
                   coalesce(c.unsettled_fen, 0), coalesce((SELECT sum(cost_fen) FROM cash_holds WHERE tenant_id = t.tenant_id AND state = 'Held'), 0)
            FROM tenants t
            LEFT JOIN tenant_cash c ON c.tenant_id = t.tenant_id
            LEFT JOIN balances a ON a.tenant_id = t.tenant_id AND a.kind = 'cash'
            LEFT JOIN balances h ON h.tenant_id = t.tenant_id AND h.kind = 'cash-held'
            WHERE coalesce(c.available_fen, 0) < 0 OR coalesce(c.held_fen, 0) < 0
               OR coalesce(a.amount, 0) <> coalesce(c.available_fen, 0) OR coalesce(h.amount, 0) <> coalesce(c.held_fen, 0)
               OR coalesce((SELECT sum(amount_fen) FROM cash_holds WHERE tenant_id = t.tenant_id AND state = 'Held'), 0) <> coalesce(c.held_fen, 0)
               OR coalesce((SELECT sum(cost_fen) FROM cash_holds WHERE tenant_id = t.tenant_id AND state = 'Held'), 0) <> coalesce(c.unsettled_fen, 0)
            """, r => new Violation("cash-ledger", $"tenant {r.GetString(0)}",
                $"available {r.GetInt64(1)}, held {r.GetInt64(2)}; ledger cash {r.GetInt64(3)}, held {r.GetInt64(4)}; open holds {r.GetInt64(5)}; "
                + $"unsettled {r.GetInt64(6)}, cost of the open holds {r.GetInt64(7)}"));

        await Rows("stuck", """
            SELECT 'reservation ' || id, 'pending since ' || updated_at FROM reservations WHERE state = 'Pending' AND updated_at < @stale
            UNION ALL
            SELECT 'bid ' || id, 'pending since ' || updated_at FROM bids WHERE state = 'Pending' AND updated_at < @stale
            """, r => new Violation("stuck", r.GetString(0), r.GetString(1)), ("stale", stale));

        // Every fill of a bid is a reservation of that bid that got its capacity.
        await Rows("fills", """
            SELECT b.id, f.value ->> 'reservationId', r.state
            FROM bids b, jsonb_array_elements(b.state_json -> 'fills') f
            LEFT JOIN reservations r ON r.id = f.value ->> 'reservationId'
            WHERE r.id IS NULL OR r.bid_id <> b.id OR r.state IN ('Pending', 'Failed')
            """, r => new Violation("fills", $"bid {r.GetString(0)}",
                $"fill {r.GetString(1)} is {(r.IsDBNull(2) ? "missing" : r.GetString(2))}"));

        // A reservation that got capacity belongs to a bid that counts it as a fill.
        await Rows("unrecorded-fill", """
            SELECT r.id, r.bid_id, b.state FROM reservations r LEFT JOIN bids b ON b.id = r.bid_id
            WHERE r.state IN ('Confirmed', 'Active', 'Completed') AND r.updated_at < @stale
              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(b.state_json -> 'fills', '[]'::jsonb)) f
                              WHERE f.value ->> 'reservationId' = r.id)
            """, r => new Violation("unrecorded-fill", $"reservation {r.GetString(0)}",
                $"bid {r.GetString(1)} ({(r.IsDBNull(2) ? "missing" : r.GetString(2))}) does not count it"), ("stale", stale));

        if (acceptedBidIds is { Count: > 0 })
        {
            await Rows("accepted-bid", """
                SELECT a.id FROM unnest(@ids::text[]) AS a(id) LEFT JOIN bids b ON b.id = a.id WHERE b.id IS NULL
                """, r => new Violation("accepted-bid", $"bid {r.GetString(0)}", "accepted but not stored"), ("ids", acceptedBidIds.ToArray()));
        }
        return new InvariantReport(violations, counts);
    }
}
