using Marketplace.Grains;
using Marketplace.Web.Infrastructure;

namespace Marketplace.Web.Api;

internal static class ReservationsApi
{
    public static RouteGroupBuilder MapReservationsApi(this RouteGroupBuilder api)
    {
        var reservations = api.MapGroup("/reservations").WithTags("Reservations");

        reservations.MapGet("/{id}", async (string id, GrainCalls grains, HttpContext context) =>
        {
            var caller = Caller.Of(context);
            var view = await grains.Run(c => c.GetGrain<IReservationGrain>(id).Get());
            var visible = view is not null && (caller.IsOversight
                || caller.Role == Names.Roles.Sme && view.Plan.TenantId == caller.TenantId
                || caller.Role == Names.Roles.Provider && view.Plan.ProviderId == caller.ProviderId);
            return visible ? Results.Ok(view) : Problems.NotFound(context, "reservation", id);
        })
        .WithName("getReservation")
        .WithSummary("A reservation with its funding split and settlement (its tenant, its provider, regulators and admins)")
        .Produces<ReservationView>();

        reservations.MapGet("/{id}/cancellation", async (string id, GrainCalls grains, HttpContext context) =>
        {
            var tenant = Caller.Of(context).Tenant;
            var view = await grains.Run(c => c.GetGrain<IReservationGrain>(id).Get());
            if (view is null || view.Plan.TenantId != tenant)
            {
                return Problems.NotFound(context, "reservation", id);
            }
            return Results.Ok(await grains.Run(c => c.GetGrain<IReservationGrain>(id).QuoteCancellation()));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithName("quoteCancellation")
        .WithSummary("What cancelling the reservation now would do: refused with the reason, or what the voucher gets back and the cash no longer owed")
        .Produces<CancellationQuote>();

        reservations.MapPost("/{id}/cancel", async (string id, GrainCalls grains, HttpContext context) =>
        {
            var tenant = Caller.Of(context).Tenant;
            var view = await grains.Run(c => c.GetGrain<IReservationGrain>(id).Get());
            if (view is null || view.Plan.TenantId != tenant)
            {
                return Problems.NotFound(context, "reservation", id);
            }
            return Results.Ok(await grains.Run(c => c.GetGrain<IMarketGrain>(view.Plan.GpuModel).CancelReservation(id, tenant)));
        })
        .RequireAuthorization(Names.Policies.Sme)
        .WithName("cancelReservation")
        .WithSummary("Cancel a reservation before it starts; its capacity and voucher hold are released")
        .Produces<ReservationView>();
        return api;
    }
}
