using System.ComponentModel.DataAnnotations;
using Marketplace.Grains;
using System.IO.Compression;
using System.Text.Json.Serialization;
using Marketplace.Data;
using Marketplace.Web.Infrastructure;
using Marketplace.Web.Queries;

namespace Marketplace.Web.Api;

/// <summary>
/// Which chain to verify (every chain when absent), and optionally a seal of it recorded earlier (an evidence pack's chain
/// head) that the chain must still pass through. Unknown fields are refused: a typo must not verify everything.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record VerifyRequest(string? ProgramId, KnownSealRequest? Head);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record KnownSealRequest([property: Required] long? Sequence, [property: Required] string? Hash);

internal static class EvidenceApi
{
    public static RouteGroupBuilder MapEvidenceApi(this RouteGroupBuilder api)
    {
        api.MapGet("/vouchers/{id}/evidence", async (string id, EvidencePacks packs, GrainCalls grains, HttpContext context, CancellationToken ct) =>
        {
            // Who may see it is asked first, of the voucher's grain: gathering a pack costs far more than refusing.
            var caller = Caller.Of(context);
            var voucher = await grains.Run(c => c.GetGrain<IVoucherGrain>(id).Get(), ct);
            if (voucher is null || !(caller.IsOversight || caller.Role == Names.Roles.Sme && voucher.TenantId == caller.TenantId)
                || await packs.GatherAsync(id, ct) is not { } facts)
            {
                return Problems.NotFound(context, "voucher", id);
            }
            var content = new MemoryStream();
            await using (var zip = new ZipArchive(content, ZipArchiveMode.Create, leaveOpen: true))
            {
                await EvidencePacks.WriteAsync(facts, zip, "", ct);
            }
            return Results.File(content.ToArray(), "application/zip", $"evidence-{id}.zip");
        })
        .WithTags("Evidence")
        .WithName("getVoucherEvidence")
        .WithSummary("The voucher's evidence pack, one ZIP: claim and eligibility, activity, funded rentals, ledger, seals, statement, manifest (its firm, regulators, admins)")
        .Produces<Stream>(StatusCodes.Status200OK, "application/zip");

        api.MapGet("/programs/{id}/evidence", async (string id, EvidencePacks packs, LedgerChain chain, GrainCalls grains, HttpContext context,
            CancellationToken ct) =>
        {
            if (await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(id).Get(), ct) is null)
            {
                return Problems.NotFound(context, "program", id);
            }
            var vouchers = await packs.VouchersOfProgramAsync(id, ct);
            return Results.Stream(async body =>
            {
                // One voucher's pack at a time goes out: the archive is never whole in memory. The archive writes
                // synchronously underneath, so it writes into a buffer that is sent after each pack.
                // Sealed once for the whole archive, not once per voucher under the sealing lock.
                await chain.SealAsync(ct);
                var buffer = new DrainableStream();
                await using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
                {
                    foreach (var voucherId in vouchers)
                    {
                        if (await packs.GatherAsync(voucherId, ct, sealFirst: false) is { } facts)
                        {
                            await EvidencePacks.WriteAsync(facts, zip, voucherId, ct);
                            await buffer.DrainToAsync(body, ct);
                        }
                    }
                }
                await buffer.DrainToAsync(body, ct);
            }, "application/zip", $"evidence-{id}.zip");
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithTags("Evidence")
        .WithName("getProgramEvidence")
        .WithSummary("The evidence packs of every voucher of a programme, streamed as one ZIP with a folder per voucher (regulators, admins)")
        .Produces<Stream>(StatusCodes.Status200OK, "application/zip");

        api.MapPost("/evidence/verify", async (VerifyRequest? request, LedgerChain chain, GrainCalls grains, HttpContext context,
            [FromKeyedServices(Names.ClockKeys.Market)] TimeProvider clock, CancellationToken ct) =>
        {
            var programId = request?.ProgramId;
            var head = request?.Head;
            var check = Check.Of(request).Id(programId, "programId", required: head is not null);
            if (head?.Sequence is <= 0)
            {
                check.Add("head.sequence", "must be a seal's number, 1 or more");
            }
            if (head?.Hash is { } hash && (hash.Length != 64 || !hash.All(char.IsAsciiHexDigit)))
            {
                check.Add("head.hash", "must be a SHA-256 hash in 64 hexadecimal digits");
            }
            if (!check.Ok)
            {
                return check.Problem();
            }
            if (programId is not null)
            {
                if (await grains.Run(c => c.GetGrain<IVoucherProgramGrain>(programId).Get(), ct) is null)
                {
                    return Problems.NotFound(context, "program", programId);
                }
            }
            var known = head is null ? null : new KnownSeal(head.Sequence!.Value, head.Hash!.ToLowerInvariant());
            return Results.Ok(await chain.VerifyAsync(programId, known, clock, ct));
        })
        .RequireAuthorization(Names.Policies.Oversight)
        .WithTags("Evidence")
        .WithName("verifyEvidence")
        .WithSummary("Recompute the ledger's hash chain of a programme (or of every chain) against the database and name each entry that differs")
        .Produces<ChainVerification>();
        return api;
    }
}
