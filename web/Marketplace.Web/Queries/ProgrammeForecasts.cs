using Marketplace.Domain.Forecasting;
using Marketplace.Data;
using Npgsql;

namespace Marketplace.Web.Queries;

/// <summary>A programme's forecast and the daily history it was made from, as the API answers it: dates are Beijing calendar days, amounts fen.</summary>
public sealed record ProgramForecast(string ProgramId, string Name, ProgrammeForecast Forecast, IReadOnlyList<ProgrammeDay> Days);

/// <summary>
/// Reads a programme's daily history from the facts where they are written (vouchers' claim and registration times, the
/// ledger's returns and captures) and hands it to the pure forecaster.
/// </summary>
public sealed class ProgrammeForecasts(NpgsqlDataSource db, [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock)
{
    // Days are Beijing calendar days: UTC plus eight hours, as ChinaTime (no daylight saving since 1991).
    private const string BeijingDay = "((({0}) AT TIME ZONE 'UTC') + interval '8 hours')::date";

    public async Task<ProgramForecast?> ForecastAsync(string programId, CancellationToken cancellationToken)
    {
        return await HistoryAsync(programId, cancellationToken) is { } found
            ? new ProgramForecast(programId, found.Name, ProgrammeForecaster.Forecast(found.History), found.History.Days)
            : null;
    }

    /// <summary>The programme's daily facts up to now, or null for an unknown programme.</summary>
    public async Task<(ProgrammeHistory History, string Name)?> HistoryAsync(string programId, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        var program = new NpgsqlBatchCommand("SELECT name, budget_fen, created_at, definition::text FROM programs WHERE id = @p");
        program.Parameters.AddWithValue("p", programId);
        // Issued: face value by claim day. Registered: face value by registration day. Returned unspent: the ledger's
        // returns into the budget (lapses, expiries, holds released after their voucher ended). Spent: the ledger's captures.
        var days = new NpgsqlBatchCommand($"""
            SELECT day, sum(claimed)::bigint, sum(registered)::bigint, sum(returned)::bigint, sum(spent)::bigint FROM (
                SELECT {string.Format(BeijingDay, "claimed_at")} AS day, face_value_fen AS claimed, 0::bigint AS registered, 0::bigint AS returned, 0::bigint AS spent
                FROM vouchers WHERE program_id = @p
                UNION ALL
                SELECT {string.Format(BeijingDay, "registered_at")}, 0, face_value_fen, 0, 0
                FROM vouchers WHERE program_id = @p AND registered_at IS NOT NULL
                UNION ALL
                SELECT {string.Format(BeijingDay, "t.posted_at")}, 0, 0, e.amount_fen, 0
                FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                WHERE t.program_id = @p AND t.kind = 'return' AND e.account = @budget
                UNION ALL
                SELECT {string.Format(BeijingDay, "t.posted_at")}, 0, 0, 0, e.amount_fen
                FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                WHERE t.program_id = @p AND t.kind = 'capture' AND e.amount_fen > 0
            ) facts GROUP BY day ORDER BY day
            """);
        days.Parameters.AddWithValue("p", programId);
        days.Parameters.AddWithValue("budget", Marketplace.Data.Accounts.ProgramBudget(programId));
        batch.BatchCommands.Add(program);
        batch.BatchCommands.Add(days);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        var name = reader.GetString(0);
        var budget = reader.GetInt64(1);
        var created = ChinaTime.DateOf(reader.GetFieldValue<DateTimeOffset>(2));
        var definition = StateJson.Deserialize<ProgramDefinition>(reader.GetString(3));
        await reader.NextResultAsync(cancellationToken);
        var today = ChinaTime.DateOf(clock.GetUtcNow());
        var facts = new List<ProgrammeDay>();
        while (await reader.ReadAsync(cancellationToken))
        {
            // A fact stamped ahead of this node's clock counts as today's.
            var day = reader.GetFieldValue<DateOnly>(0);
            facts.Add(new ProgrammeDay(day > today ? today : day, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        // The history starts when claims could start: days before the window opened are not quiet days of the programme.
        var opens = ChinaTime.DateOf(definition.ClaimOpensAt);
        var start = opens > created ? opens : created;
        var first = facts.Count > 0 && facts[0].Day < start ? facts[0].Day : start;
        // The last voucher can be claimed as the window closes, registered at its deadline and then runs its validity.
        var lastClaim = definition.ClaimClosesAt.AddTicks(-1);
        var lastRegistration = ChinaTime.DeadlineAfterDays(lastClaim, definition.RegistrationDeadlineDays);
        var lastOpen = ChinaTime.ValidUntil(lastRegistration, definition.ValidityDays, definition.ValidityMonths).AddTicks(-1);
        return (new ProgrammeHistory(budget, first, today < first ? first : today, facts, ChinaTime.DateOf(lastClaim), ChinaTime.DateOf(lastOpen)), name);
    }
}
