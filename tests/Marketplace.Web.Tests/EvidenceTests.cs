using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Marketplace.Data;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Web.Tests;

public sealed class EvidenceCluster : WebCluster;

/// <summary>A cluster of its own: the tamper test breaks its programme's chain on purpose.</summary>
[CollectionDefinition(Name)]
public sealed class EvidenceCollection : ICollectionFixture<EvidenceCluster>
{
    public const string Name = "evidence";
}

/// <summary>An auditor's view of a voucher: the evidence pack matches the database, and the ledger shows tampering.</summary>
[Collection(EvidenceCollection.Name)]
public sealed class EvidenceTests(EvidenceCluster web)
{
    private const string Model = "A800-80G";

    private static readonly string[] PackFiles = ["claim.json", "activity.json", "reservations.csv", "ledger.csv", "chain.json", "statement.html", "manifest.json"];

    [Fact]
    public async Task The_evidence_pack_of_a_voucher_with_a_settled_an_interrupted_and_an_open_rental_matches_the_database()
    {
        var (programId, voucher, sme, rentals) = await ScenarioAsync();
        var (settled, interrupted, open) = (rentals[0], rentals[1], rentals[2]);

        var response = await sme.GetAsync($"/api/v1/vouchers/{voucher}/evidence");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        var files = await Unzip(response);
        Assert.Equal(PackFiles.Order(), files.Keys.Order());

        // The manifest names every other file with its size and SHA-256.
        using var manifest = JsonDocument.Parse(files["manifest.json"]);
        var listed = manifest.RootElement.GetProperty("files").EnumerateArray()
            .ToDictionary(f => f.GetProperty("name").GetString()!, f => (f.GetProperty("bytes").GetInt64(), f.GetProperty("sha256").GetString()));
        Assert.Equal(PackFiles.Where(f => f != "manifest.json").Order(), listed.Keys.Order());
        foreach (var (name, (bytes, sha)) in listed)
        {
            Assert.Equal((files[name].LongLength, Convert.ToHexStringLower(SHA256.HashData(files[name]))), (bytes, sha));
        }

        // Every rental the voucher funded, as it settled: 4 of 4 hours used, 2 of 4 (an outage took the rest), not yet run.
        var csv = Rows(files["reservations.csv"]);
        Assert.Equal(
            [
                (settled, "Captured", "Completed", "4", "20000", "16000", "16000"),
                (interrupted, "Captured", "Interrupted", "2", "20000", "8000", "8000"),
                (open, "Held", "Confirmed", "", "10000", "8000", "0"),
            ],
            csv.Select(r => (r["reservation_id"], r["hold_state"], r["reservation_state"], r["hours_used"], r["rental_cost_fen"], r["voucher_held_fen"],
                r["voucher_captured_fen"])).ToList());

        // The ledger in the pack is the voucher's ledger in the database, entry for entry.
        var stored = await LedgerRowsAsync(voucher);
        var packed = Rows(files["ledger.csv"]).Select(r => $"{r["transaction_id"]} {r["line"]} {r["account"]} {r["amount_fen"]}").ToList();
        Assert.Equal(stored, packed);
        Assert.Contains($"trim:{voucher}:{interrupted}:8000 1 voucher:{voucher}:available 8000", packed);

        // Anyone can check each seal with a SHA-256 tool: the hash covers the previous hash and the text printed beside it.
        using var chain = JsonDocument.Parse(files["chain.json"]);
        var seals = chain.RootElement.GetProperty("seals").EnumerateArray().ToList();
        Assert.Equal(stored.Select(r => r.Split(' ')[0]).Distinct(), seals.Select(s => s.GetProperty("transactionId").GetString()));
        Assert.All(seals, s => Assert.Equal(s.GetProperty("hash").GetString(), Convert.ToHexStringLower(SHA256.HashData(
            [.. Convert.FromHexString(s.GetProperty("prevHash").GetString()!), .. Encoding.UTF8.GetBytes(s.GetProperty("canonicalText").GetString()!)]))));
        Assert.All(seals, s => Assert.Equal(programId, s.GetProperty("chain").GetString()));
        Assert.Empty(chain.RootElement.GetProperty("waiting").EnumerateArray());

        // The statement: Chinese first, amounts in yuan, what the firm typed encoded.
        var statement = Encoding.UTF8.GetString(files["statement.html"]);
        Assert.Contains("<html lang=\"zh-CN\">", statement);
        Assert.Contains("算力券使用证明", statement);
        Assert.Contains("Legal LLM &lt;court rulings&gt;", statement);
        Assert.DoesNotContain("<court rulings>", statement);
        Assert.Contains("因故障中断", statement);
        Assert.Contains("160.00 元", statement);

        // Only the voucher's firm, regulators and admins get it.
        var (_, stranger) = await new Api(web).Tenant();
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/api/v1/vouchers/{voucher}/evidence")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await web.Regulator().GetAsync($"/api/v1/vouchers/{voucher}/evidence")).StatusCode);
    }

    [Fact]
    public async Task A_ledger_entry_changed_behind_the_application_is_named_and_a_chain_sealed_again_breaks_the_head_an_auditor_kept()
    {
        var (programId, voucher, _, rentals) = await ScenarioAsync();
        var regulator = web.Regulator();
        // The auditor keeps the chain head of the pack it was handed.
        using var manifest = JsonDocument.Parse((await Unzip(await regulator.GetAsync($"/api/v1/vouchers/{voucher}/evidence")))["manifest.json"]);
        var head = Assert.Single(manifest.RootElement.GetProperty("chainHeads").EnumerateArray());
        Assert.Equal(programId, head.GetProperty("chain").GetString());
        var kept = new { sequence = head.GetProperty("sequence").GetInt64(), hash = head.GetProperty("hash").GetString() };
        var before = await VerifyAsync(regulator, programId, kept);
        Assert.True(before.Intact);
        Assert.Equal(await web.Database.ScalarAsync<long>("SELECT count(*) FROM ledger_transactions WHERE program_id = @p", ("p", programId)), before.SealsChecked);
        Assert.Empty(before.Problems);

        // Someone with the database's keys moves 100 fen of a hold between accounts: the posting still balances, so only
        // the seal can tell.
        var tampered = $"hold:{voucher}:{rentals[1]}";
        await using (var connection = await web.Database.DataSource.OpenConnectionAsync())
        {
            await using var command = new Npgsql.NpgsqlCommand("""
                SET session_replication_role = replica;
                UPDATE ledger_entries SET amount_fen = amount_fen + CASE WHEN amount_fen > 0 THEN 100 ELSE -100 END WHERE transaction_id = @t;
                SET session_replication_role = origin;
                """, connection);
            command.Parameters.AddWithValue("t", tampered);
            await command.ExecuteNonQueryAsync();
        }

        var after = await VerifyAsync(regulator, programId);
        Assert.False(after.Intact);
        var sequence = await web.Database.ScalarAsync<long>("SELECT chain_seq FROM ledger_seals WHERE transaction_id = @t", ("t", tampered));
        Assert.Equal([new ChainProblem(programId, sequence, tampered, "the transaction or its entries differ from what was sealed")], after.Problems);

        // Worse: the seals from the changed posting on are thrown away and sealed again. The chain agrees with itself now;
        // only the head the auditor kept shows that it is not the chain it was handed.
        await using (var connection = await web.Database.DataSource.OpenConnectionAsync())
        {
            await using var command = new Npgsql.NpgsqlCommand("""
                SET session_replication_role = replica;
                DELETE FROM ledger_seals WHERE chain = @p AND chain_seq >= @s;
                INSERT INTO ledger_unsealed (transaction_id, seq)
                SELECT t.id, t.seq FROM ledger_transactions t WHERE t.program_id = @p AND NOT EXISTS (SELECT 1 FROM ledger_seals s WHERE s.transaction_id = t.id);
                SET session_replication_role = origin;
                SELECT ledger_seal(1000);
                """, connection);
            command.Parameters.AddWithValue("p", programId);
            command.Parameters.AddWithValue("s", sequence);
            await command.ExecuteNonQueryAsync();
        }
        Assert.True((await VerifyAsync(regulator, programId)).Intact);
        var rewritten = await VerifyAsync(regulator, programId, kept);
        Assert.False(rewritten.Intact);
        var atHead = await web.Database.ScalarAsync<string>("SELECT transaction_id FROM ledger_seals WHERE chain = @p AND chain_seq = @s",
            ("p", programId), ("s", kept.sequence));
        Assert.Equal([new ChainProblem(programId, kept.sequence, atHead,
            $"the chain no longer holds seal {kept.sequence} as recorded earlier: it was rewritten from there or before")], rewritten.Problems);
    }

    [Fact]
    public async Task An_empty_field_where_there_was_none_and_each_fault_of_one_seal_are_reported()
    {
        var (programId, voucher, _, rentals) = await ScenarioAsync();
        var regulator = web.Regulator();
        Assert.True((await VerifyAsync(regulator, programId)).Intact);
        var claim = $"claim:{voucher}";
        var removed = $"hold:{voucher}:{rentals[0]}";
        var changed = $"hold:{voucher}:{rentals[1]}";
        var seal = (string id) => web.Database.ScalarAsync<long>("SELECT chain_seq FROM ledger_seals WHERE transaction_id = @t", ("t", id));
        var (claimSeal, removedSeal, changedSeal) = (await seal(claim), await seal(removed), await seal(changed));
        Assert.Equal(removedSeal + 1, changedSeal); // the second rental's hold was sealed right after the first's

        // The claim names no reservation; "" is not "none". The first hold's seal goes; the seal after it is changed too.
        await using (var connection = await web.Database.DataSource.OpenConnectionAsync())
        {
            await using var command = new Npgsql.NpgsqlCommand("""
                SET session_replication_role = replica;
                UPDATE ledger_transactions SET reservation_id = '' WHERE id = @claim;
                DELETE FROM ledger_seals WHERE transaction_id = @removed;
                UPDATE ledger_transactions SET description = description || '.' WHERE id = @changed;
                SET session_replication_role = origin;
                """, connection);
            command.Parameters.AddWithValue("claim", claim);
            command.Parameters.AddWithValue("removed", removed);
            command.Parameters.AddWithValue("changed", changed);
            await command.ExecuteNonQueryAsync();
        }

        var found = await VerifyAsync(regulator, programId);
        Assert.Equal(
            [
                new ChainProblem(programId, claimSeal, claim, "the transaction or its entries differ from what was sealed"),
                new ChainProblem(programId, changedSeal, changed, $"seal {changedSeal} follows seal {removedSeal - 1}: a seal is missing"),
                new ChainProblem(programId, changedSeal, changed, "the seal does not follow the one before it"),
                new ChainProblem(programId, changedSeal, changed, "the transaction or its entries differ from what was sealed"),
                new ChainProblem(programId, null, removed, "the transaction is neither sealed nor waiting to be"),
            ],
            found.Problems);
    }

    [Fact]
    public async Task The_text_a_seal_hashes_is_every_field_as_its_length_a_colon_and_the_text_or_a_dash_in_the_documented_order()
    {
        await ScenarioAsync();
        // Every transaction posted so far, with its entries, and the text the database hashes for it.
        await using var command = web.Database.DataSource.CreateCommand("""
            SELECT t.id, t.kind, t.program_id, t.voucher_id, t.reservation_id, t.description, t.posted_at,
                   array_agg(e.line ORDER BY e.line), array_agg(e.account ORDER BY e.line), array_agg(e.amount_fen ORDER BY e.line),
                   ledger_canonical(t.id)
            FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var checkedTexts = 0;
        var withoutProgramme = 0;
        while (await reader.ReadAsync())
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            static string Field(string? value) => value is null ? "-" : $"{value.EnumerateRunes().Count()}:{value}";
            var posted = reader.GetFieldValue<DateTimeOffset>(6).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var lines = reader.GetFieldValue<short[]>(7);
            var accounts = reader.GetFieldValue<string[]>(8);
            var amounts = reader.GetFieldValue<long[]>(9);
            var expected = string.Concat(new[] { Text(0), Text(1), Text(2), Text(3), Text(4), Text(5), posted }.Select(Field))
                + string.Concat(lines.Select((line, i) => Field(line.ToString(System.Globalization.CultureInfo.InvariantCulture)) + Field(accounts[i])
                    + Field(amounts[i].ToString(System.Globalization.CultureInfo.InvariantCulture))));
            Assert.Equal(expected, reader.GetString(10));
            checkedTexts++;
            withoutProgramme += Text(2) is null ? 1 : 0;
        }
        Assert.True(checkedTexts >= 4, $"only {checkedTexts} transactions were checked");
        Assert.True(withoutProgramme < checkedTexts, "no transaction of a programme was checked");
    }

    [Fact]
    public async Task A_regulator_downloads_every_pack_of_a_programme_in_one_archive()
    {
        var (programId, voucher, _, _) = await ScenarioAsync();
        var (_, other) = await new Api(web).Tenant();
        var second = (await (await other.PostJson($"/api/v1/programs/{programId}/vouchers", new { amountFen = 1_000_000 }, "claim-2")).Read<VoucherView>()).Id;

        var response = await web.Regulator().GetAsync($"/api/v1/programs/{programId}/evidence");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var files = await Unzip(response);
        Assert.Equal(new[] { voucher, second }.SelectMany(v => PackFiles.Select(f => $"{v}/{f}")).Order(), files.Keys.Order());
        Assert.Equal(HttpStatusCode.Forbidden, (await web.Sme(Scenario.Unique("t")).GetAsync($"/api/v1/programs/{programId}/evidence")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await web.Regulator().GetAsync($"/api/v1/programs/{Scenario.Unique("none")}/evidence")).StatusCode);
    }

    /// <summary>
    /// A programme whose voucher funds three rentals: one that runs and settles, one an outage cuts to half, one still
    /// ahead. Returns the programme, the voucher, its firm and the three reservations in that order.
    /// </summary>
    private async Task<(string ProgramId, string VoucherId, HttpClient Sme, IReadOnlyList<string> Reservations)> ScenarioAsync()
    {
        var api = new Api(web);
        var admin = web.Admin();
        var programId = Scenario.Unique("ev");
        var opens = web.Clock.GetUtcNow().AddDays(-1);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostJson("/api/v1/programs", new
        {
            id = programId, name = "算力券 Evidence Programme", issuer = "Beijing Municipal Science and Technology Commission",
            province = "Beijing", claimOpensAt = opens, claimClosesAt = opens.AddYears(1), budgetFen = 20_000_000, voucherCapFen = 5_000_000,
            coverageBasisPoints = 8_000, allowedTenantKinds = new[] { "Sme", "StartupTeam" }, registrationDeadlineDays = 15, validityDays = 90,
        })).StatusCode);
        var (providerId, provider) = await api.Provider("Hebei");
        var pool = await api.Pool(provider, providerId, Model, gpus: 8, ask: 2_500);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/v1/programs/{programId}/providers/{providerId}",
            new { batchId = "2026-b1", effectiveFrom = opens })).StatusCode);

        var (_, sme) = await api.Tenant();
        var voucher = await (await sme.PostJson($"/api/v1/programs/{programId}/vouchers", new { }, Scenario.Unique("claim"))).Read<VoucherView>();
        Assert.Equal(HttpStatusCode.OK, (await sme.PostAsJsonAsync($"/api/v1/vouchers/{voucher.Id}/activity",
            new { title = "Legal LLM <court rulings>", description = "Fine-tuning on court rulings", plannedGpuHours = 400 })).StatusCode);

        var first = Hours.FirstBookable(web.Clock.GetUtcNow());
        var settled = await FillAsync(sme, voucher.Id, first + 1, gpus: 2, hours: 4);
        var interrupted = await FillAsync(sme, voucher.Id, first + 6, gpus: 2, hours: 4);
        var open = await FillAsync(sme, voucher.Id, first + 14, gpus: 1, hours: 4);

        // The pool fails for the last two hours of the second rental.
        Assert.Equal(HttpStatusCode.OK, (await provider.PostJson($"/api/v1/providers/{providerId}/pools/{pool.Id}/outages", new
        {
            outageId = Scenario.Unique("outage"), from = Hours.ToTime(first + 8), to = Hours.ToTime(first + 10), reason = "cooling failure",
        }, Scenario.Unique("outage-key"))).StatusCode);

        // The first two rentals run out and are settled; the third is still ahead.
        web.Advance(Hours.ToTime(first + 10) - web.Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        await web.Grains.GetGrain<Marketplace.Grains.ISweeperGrain>(0).Tick();
        return (programId, voucher.Id, sme, [settled, interrupted, open]);
    }

    private static async Task<string> FillAsync(HttpClient sme, string voucherId, long startHour, int gpus, int hours)
    {
        var start = Hours.ToTime(startHour);
        var bid = await (await sme.PostJson("/api/v1/bids", new
        {
            gpuModel = Model, gpuCount = gpus, durationHours = hours, earliestStart = start, latestStart = start, maxFenPerGpuHour = 3_000,
            voucherId, timeInForce = "IOC",
        }, Scenario.Unique("bid"))).Read<BidView>();
        return Assert.Single(bid.Fills).ReservationId;
    }

    private async Task<List<string>> LedgerRowsAsync(string voucherId)
    {
        var rows = new List<string>();
        await using var command = web.Database.DataSource.CreateCommand("""
            SELECT t.id || ' ' || e.line || ' ' || e.account || ' ' || e.amount_fen
            FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id WHERE t.voucher_id = @v ORDER BY t.seq, e.line
            """);
        command.Parameters.AddWithValue("v", voucherId);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }

    private static async Task<ChainVerification> VerifyAsync(HttpClient regulator, string programId, object? head = null)
    {
        var response = await regulator.PostAsJsonAsync("/api/v1/evidence/verify", new { programId, head });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ChainVerification>(WebCluster.Json))!;
    }

    private static async Task<Dictionary<string, byte[]>> Unzip(HttpResponseMessage response)
    {
        using var zip = new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync()), ZipArchiveMode.Read);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[entry.FullName] = copy.ToArray();
        }
        return files;
    }

    /// <summary>The rows of a CSV file the pack writes (no field of these tests holds a comma or a quote).</summary>
    private static List<Dictionary<string, string>> Rows(byte[] csv)
    {
        var lines = Encoding.UTF8.GetString(csv).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(l => header.Zip(l.Split(','), (h, v) => (h, v)).ToDictionary(p => p.h, p => p.v)).ToList();
    }
}
