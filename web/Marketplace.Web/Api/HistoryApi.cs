using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Marketplace.Web.Api;

/// <summary>The dashboards' charts over time, read from the history rollups: the regulator's market and a provider's own pools.</summary>
internal static class HistoryApi
{
    /// <summary>The problem code of a <c>range</c> that is not hour, day or week.</summary>
    public const string BadRangeCode = "history-range";

    public static RouteGroupBuilder MapHistoryApi(this RouteGroupBuilder api)
    {
        var history = api.MapGroup("/history").WithTags("Oversight").RequireAuthorization(Names.Policies.Oversight);

        history.MapGet("/utilization", Utilization)
            .WithName("getUtilizationHistory")
            .WithSummary("GPUs listed and booked per province over the last hour, day or week (regulator, admin)");
        history.MapGet("/fills", Fills)
            .WithName("getFillHistory")
            .WithSummary("Fills per province over the last hour, day or week: count, GPU-hours, voucher and cash amounts (regulator, admin)");
        history.MapGet("/takeup", TakeUp)
            .WithName("getTakeUpHistory")
            .WithSummary("Each programme's money over the last hour, day or week: issued, held, spent, returned, lapsed (regulator, admin)");

        api.MapGet("/providers/{id}/history", Provider)
            .WithTags("Providers and pools")
            .WithName("getProviderHistory")
            .WithSummary("Utilization and fills of the provider's own pools over the last hour, day or week (the provider, regulators and admins)");
        return api;
    }

    private static async Task<Results<Ok<History<UtilizationPoint>>, ProblemHttpResult>> Utilization(string? range, string? province,
        HistoryReads read, CancellationToken ct) =>
        HistoryRange.Parse(range) is { } asked ? TypedResults.Ok(await read.UtilizationAsync(asked, province, ct)) : BadRange(range);

    private static async Task<Results<Ok<History<FillsPoint>>, ProblemHttpResult>> Fills(string? range, HistoryReads read, CancellationToken ct) =>
        HistoryRange.Parse(range) is { } asked ? TypedResults.Ok(await read.FillsAsync(asked, ct)) : BadRange(range);

    private static async Task<Results<Ok<History<TakeUpPoint>>, ProblemHttpResult>> TakeUp(string? range, string? programId,
        HistoryReads read, CancellationToken ct) =>
        HistoryRange.Parse(range) is { } asked ? TypedResults.Ok(await read.TakeUpAsync(asked, programId, ct)) : BadRange(range);

    private static async Task<Results<Ok<ProviderHistory>, ProblemHttpResult>> Provider(string id, string? range, HistoryReads read,
        GrainCalls grains, HttpContext context, CancellationToken ct)
    {
        if (!await ProvidersApi.SeesProviderAsync(context, grains, id))
        {
            return (ProblemHttpResult)Problems.NotFound(context, "provider", id);
        }
        return HistoryRange.Parse(range) is { } asked ? TypedResults.Ok(await read.ProviderAsync(id, asked, ct)) : BadRange(range);
    }

    private static ProblemHttpResult BadRange(string? range) => (ProblemHttpResult)Problems.Of(StatusCodes.Status400BadRequest, BadRangeCode,
        "Unknown range", $"range '{Check.Trim(range ?? "")}' is not one of {string.Join(", ", HistoryRange.All.Select(r => r.Name))}", "range");
}
