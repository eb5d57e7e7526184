using System.ComponentModel.DataAnnotations;
using Marketplace.Domain.Rules;
using Marketplace.Grains;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Marketplace.Web.Api;

public sealed record ProgramRequest(
    [property: Required] string? Id,
    [property: Required] string? Name,
    [property: Required] string? Issuer,
    [property: Required] string? Province,
    [property: Required] DateTimeOffset? ClaimOpensAt,
    [property: Required] DateTimeOffset? ClaimClosesAt,
    [property: Required] long? BudgetFen,
    [property: Required] long? VoucherCapFen,
    [property: Required] int? CoverageBasisPoints,
    [property: Required] List<string>? AllowedTenantKinds,
    [property: Required] int? RegistrationDeadlineDays,
    [property: Required] int? ValidityDays,
    bool? Stackable,
    bool? AllowMultipleOpenVouchers,
    string? Assumptions,
    int? ValidityMonths = null);

public sealed record ProviderApprovalRequest([property: Required] string? BatchId, [property: Required] DateTimeOffset? EffectiveFrom);

/// <summary>A raise of a program's budget, in fen, and why the office raises it.</summary>
public sealed record BudgetRaiseRequest([property: Required] long? AmountFen, [property: Required] string? Reason);

/// <summary>Why the office closes a program's claims early.</summary>
public sealed record ProgramCloseRequest([property: Required] string? Reason);

internal static class ProgramsApi
{
    public static RouteGroupBuilder MapProgramsApi(this RouteGroupBuilder api)
    {
        var programs = api.MapGroup("/programs").WithTags("Voucher programs");

        programs.MapPost("/", async (ProgramRequest request, GrainCalls grains, MarketLimits limits) =>
        {
            var check = Check.Of(request)
                .Id(request.Id, "id")
                .Length(request.Assumptions, 0, ProgramTermsRules.MaxAssumptionsLength, "assumptions", required: false)
                .Add(ProgramTermsRules.Validate(new ProgramTerms(request.Name, request.Issuer, request.Province, request.ClaimOpensAt,
                    request.ClaimClosesAt, request.BudgetFen, request.VoucherCapFen, request.CoverageBasisPoints, request.AllowedTenantKinds?.Count ?? 0,
                    request.RegistrationDeadlineDays, request.ValidityDays, request.ValidityMonths, request.Assumptions), limits));
            var kinds = new List<TenantKind>();
            if (request.AllowedTenantKinds is { Count: > 0 and <= ProgramTermsRules.MaxTenantKinds })
            {
                for (var i = 0; i < request.AllowedTenantKinds.Count; i++)
                {
                    check.Enum<TenantKind>(request.AllowedTenantKinds[i], $"allowedTenantKinds[{i}]", out var kind);
                    kinds.Add(kind);
                }
            }
            if (!check.Ok)
            {
                return check.Problem();
            }
            var definition = new ProgramDefinition(request.Name!, request.Issuer!, request.Province!, request.ClaimOpensAt!.Value.ToUniversalTime(),
                request.ClaimClosesAt!.Value.ToUniversalTime(), request.BudgetFen!.Value, request.VoucherCapFen!.Value, request.CoverageBasisPoints!.Value,
                kinds.Distinct().ToList(), request.RegistrationDeadlineDays!.Value, request.ValidityDays!.Value, request.Stackable ?? false,
                request.AllowMultipleOpenVouchers ?? false, request.Assumptions, request.ValidityMonths);
            var view = await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(request.Id!).Create(definition));
            return Results.Created($"/api/v1/programs/{view.Id}", view);
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithMetadata(new IdempotentEndpoint())
        .WithName("createProgram")
        .WithSummary("Create a voucher program (admin)")
        .Produces<ProgramView>(StatusCodes.Status201Created);

        programs.MapGet("/", async (ReadModels read, CancellationToken ct) => Results.Ok(await read.ProgramsAsync(ct)))
            .WithName("listPrograms")
            .WithSummary("List voucher programs")
            .Produces<IReadOnlyList<ProgramSummary>>();

        programs.MapGet("/{id}", async (string id, GrainCalls grains, HttpContext context) =>
        {
            var view = await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(id).Get());
            return view is null ? Problems.NotFound(context, "program", id) : Results.Ok(view);
        })
        .WithName("getProgram")
        .WithSummary("A voucher program with its totals and approved-provider notices")
        .Produces<ProgramView>();

        // A programme approves a company (its credit code); the approval applies to every site it lists. The office may
        // name the company by its code, or by the provider id it registered under.
        programs.MapPut("/{id}/companies/{creditCode}", (string id, string creditCode, ProviderApprovalRequest request, GrainCalls grains, HttpContext context) =>
            PublishNotice(id, Named.Company(creditCode), request.BatchId, request.EffectiveFrom, approved: true, grains, context, Check.Of(request)))
            .RequireAuthorization(Names.Policies.Admin)
            .WithName("approveCompany")
            .WithSummary("Approve a company (by unified social credit code) for the program from a date, in a notice batch (admin)")
            .Produces<ProgramView>();

        programs.MapDelete("/{id}/companies/{creditCode}", (string id, string creditCode, string? batchId, DateTimeOffset? effectiveFrom,
                GrainCalls grains, HttpContext context) =>
            PublishNotice(id, Named.Company(creditCode), batchId, effectiveFrom, approved: false, grains, context))
            .RequireAuthorization(Names.Policies.Admin)
            .WithName("removeCompany")
            .WithSummary("Remove a company (by unified social credit code) from the program from a date, in a notice batch (admin)")
            .Produces<ProgramView>();

        programs.MapPut("/{id}/providers/{providerId}", (string id, string providerId, ProviderApprovalRequest request, GrainCalls grains, HttpContext context) =>
            PublishNotice(id, Named.Provider(providerId), request.BatchId, request.EffectiveFrom, approved: true, grains, context, Check.Of(request)))
            .RequireAuthorization(Names.Policies.Admin)
            .WithName("approveProvider")
            .WithSummary("Approve a provider's company for the program from a date, in a notice batch (admin)")
            .Produces<ProgramView>();

        programs.MapDelete("/{id}/providers/{providerId}", (string id, string providerId, string? batchId, DateTimeOffset? effectiveFrom,
                GrainCalls grains, HttpContext context) =>
            PublishNotice(id, Named.Provider(providerId), batchId, effectiveFrom, approved: false, grains, context))
            .RequireAuthorization(Names.Policies.Admin)
            .WithName("removeProvider")
            .WithSummary("Remove a provider's company from the program from a date, in a notice batch (admin)")
            .Produces<ProgramView>();

        programs.MapPost("/{id}/budget", async (string id, BudgetRaiseRequest request, GrainCalls grains, MarketLimits limits, HttpContext context) =>
        {
            // The grain checks the raise against the budget as it stands; here only what the request alone can get wrong.
            var check = Check.Of(request).Add(ProgramTermsRules.ValidateRaise(request.AmountFen, request.Reason, currentBudgetFen: 0, limits));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var program = grains.Client.GetGrain<IVoucherProgramGrain>(id);
            if (await grains.Run(_ => program.Get()) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            return Results.Ok(await grains.Run(_ => program.RaiseBudget(request.AmountFen!.Value, request.Reason!.Trim())));
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithMetadata(new IdempotentEndpoint())
        .WithName("raiseBudget")
        .WithSummary("Raise an open program's budget, funded like its first budget (admin)")
        .Produces<ProgramView>();

        programs.MapPost("/{id}/close", async (string id, ProgramCloseRequest request, GrainCalls grains, HttpContext context) =>
        {
            var check = Check.Of(request).Add(ProgramTermsRules.ValidateClose(request.Reason));
            if (!check.Ok)
            {
                return check.Problem();
            }
            var program = grains.Client.GetGrain<IVoucherProgramGrain>(id);
            if (await grains.Run(_ => program.Get()) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            return Results.Ok(await grains.Run(_ => program.Close(request.Reason!.Trim())));
        })
        .RequireAuthorization(Names.Policies.Admin)
        .WithName("closeProgram")
        .WithSummary("Close a program's claims now; vouchers already issued keep their terms (admin)")
        .Produces<ProgramView>();

        programs.MapGet("/{id}/ledger", async (string id, string? kind, DateTimeOffset? from, DateTimeOffset? to, int? page, int? pageSize,
            GrainCalls grains, ReadModels read, HttpContext context, CancellationToken ct) =>
        {
            var check = new Check();
            var asked = Page.Of(page, pageSize, check);
            var filter = Filter(kind, from, to, check);
            if (!check.Ok)
            {
                return check.Problem();
            }
            if (await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(id).Get()) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            return Results.Ok(await read.LedgerAsync(id, filter, asked.Number, asked.Size, ct));
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithName("getLedger")
        .WithSummary("The program's double-entry ledger, paged and filtered by kind and time posted, with account balances (regulator, admin)")
        .Produces<LedgerPage>();

        programs.MapGet("/{id}/ledger/export", async (string id, string? kind, DateTimeOffset? from, DateTimeOffset? to,
            GrainCalls grains, ReadModels read, HttpContext context, CancellationToken ct) =>
        {
            var check = new Check();
            var filter = Filter(kind, from, to, check);
            if (!check.Ok)
            {
                return check.Problem();
            }
            if (await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(id).Get()) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            return new LedgerCsv(id, read.LedgerTransactionsAsync(id, filter, ct));
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithName("exportLedger")
        .WithSummary("The program's ledger entries the filter selects, as CSV (UTF-8): one row per entry, times in Beijing time (regulator, admin)")
        .Produces<string>(StatusCodes.Status200OK, LedgerCsv.ContentType);

        programs.MapGet("/{id}/takeup", async (string id, ReadModels read, HttpContext context, CancellationToken ct) =>
            await read.TakeUpAsync(id, ct) is { } takeUp ? Results.Ok(takeUp) : Problems.NotFound(context, "program", id))
            .RequireAuthorization(Names.Policies.Oversight)
            .WithName("getProgramTakeUp")
            .WithSummary("Voucher take-up and budget burn of the program (regulator, admin)")
            .Produces<TakeUp>();

        programs.MapGet("/{id}/forecast", Forecast)
            .RequireAuthorization(Names.Policies.Oversight)
            .WithName("getProgramForecast")
            .WithSummary("When the program's budget will be fully issued and fully spent, and how much will lapse or expire unspent (regulator, admin)")
            .WithDescription("Projected from the program's daily history (Beijing calendar days): each daily rate of claims, unspent returns and "
                + "spending is smoothed exponentially and carried forward against the budget in 1,000 seeded simulated futures that replay the "
                + "past days' forecast errors; the forecast is the median future, the interval the 10th to 90th percentile. A date is null when, "
                + "at the rates seen, it does not happen before the program's last voucher can end (status Never), or when there is no complete "
                + "day yet (NoHistory).");

        return api;
    }

    private static async Task<Results<Ok<ProgramForecast>, ProblemHttpResult>> Forecast(string id, ProgrammeForecasts forecasts, HttpContext context,
        CancellationToken ct) =>
        await forecasts.ForecastAsync(id, ct) is { } forecast ? TypedResults.Ok(forecast) : (ProblemHttpResult)Problems.NotFound(context, "program", id);

    /// <summary>How a notice names the company it approves or removes: by credit code, or by a provider's id.</summary>
    private sealed record Named(string? CreditCode, string? ProviderId)
    {
        public static Named Company(string creditCode) => new(creditCode, null);

        public static Named Provider(string providerId) => new(null, providerId);
    }

    private static LedgerFilter Filter(string? kind, DateTimeOffset? from, DateTimeOffset? to, Check check)
    {
        check.Id(kind, "kind", required: false);
        if (from >= to)
        {
            check.Add("to", "must be after from");
        }
        return new LedgerFilter(kind, from, to);
    }

    private static async Task<IResult> PublishNotice(string id, Named company, string? batchId, DateTimeOffset? effectiveFrom, bool approved,
        GrainCalls grains, HttpContext context, Check? check = null)
    {
        // A notice in a body has its required fields checked already (check); one in the query (a removal) is checked here.
        check ??= new Check().Required(batchId, "batchId").Required(effectiveFrom, "effectiveFrom");
        check.Id(batchId, "batchId", required: false);
        check = company.ProviderId is { } named ? check.Id(named, "providerId") : check.CreditCodeOf(company.CreditCode, "creditCode");
        if (!check.Ok)
        {
            return check.Problem();
        }
        var program = grains.Client.GetGrain<IVoucherProgramGrain>(id);
        if (await grains.Run(_ => program.Get()) is null)
        {
            return Problems.NotFound(context, "program", id);
        }
        var creditCode = company.CreditCode;
        if (company.ProviderId is { } providerId)
        {
            // A notice for a provider that never registered would approve (or remove) an id anyone could register later;
            // a registered one names its company.
            if (await grains.Run(c => c.GetGrain<IProviderGrain>(providerId).Get()) is not { } provider)
            {
                return Problems.NotFound(context, "provider", providerId);
            }
            creditCode = provider.Registration.CreditCode;
        }
        var notice = new ProviderNotice(batchId!, creditCode!, approved, effectiveFrom!.Value.ToUniversalTime(), company.ProviderId);
        return Results.Ok(await grains.Run(_ => program.PublishProviderNotice(notice)));
    }
}
