using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Marketplace.Load;

/// <summary>How the durable fills were confirmed at the end: by reading bids back through the API, or in the database.</summary>
public sealed record Confirmation(string Method, long Checked, long Filled, long Mismatches, bool? InvariantsClean, IReadOnlyList<string> Violations);

/// <summary>
/// Everything one bench run measured; written as JSON and Markdown under load/results/. Durable fills are the accepted bids
/// the database (or, without it, the API read-back) has as filled; pushed fills are those the hub told their tenant about.
/// </summary>
public sealed record BenchResult(
    string RunId,
    string Label,
    DateTimeOffset StartedAt,
    string Mode,
    double? TargetRate,
    int? Concurrency,
    double SendingSeconds,
    long Sent,
    long Accepted,
    long Shed,
    long Refused,
    long Errors,
    IReadOnlyDictionary<string, long> States,
    IReadOnlyDictionary<string, long> RejectReasons,
    IReadOnlyDictionary<string, long> Refusals,
    IReadOnlyDictionary<string, long> ErrorKinds,
    double AcceptedPerSecond,
    long DurableFills,
    double DurableFillsPerSecond,
    long PushedFills,
    long PushedBeforeAnswer,
    Percentiles Api,
    Percentiles Push,
    Confirmation Confirmation,
    IReadOnlyDictionary<string, double> CpuCores,
    Machine Machine)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string Markdown()
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine(c, $"# Bench run {RunId} ({Label})");
        md.AppendLine();
        md.AppendLine(c, $"{StartedAt:u}; {Mode} loop{(TargetRate is { } r ? $" at {r:F0} bids/s" : $" with {Concurrency} workers")} for {SendingSeconds:F0} s.");
        md.AppendLine(c, $"Machine: {Machine.Cores} cores, {Machine.CpuModel}, {Machine.MemoryGiB} GiB, {Machine.Os}, {Machine.Runtime}; load average {Machine.LoadAverage1m} at the end.");
        md.AppendLine();
        md.AppendLine("| measure | value |");
        md.AppendLine("|---|---|");
        md.AppendLine(c, $"| bids sent | {Sent:N0} |");
        md.AppendLine(c, $"| accepted | {Accepted:N0} ({AcceptedPerSecond:F0}/s) |");
        md.AppendLine(c, $"| durable fills ({Confirmation.Method}) | {DurableFills:N0} ({DurableFillsPerSecond:F0}/s) |");
        md.AppendLine(c, $"| fills pushed to the tenant | {PushedFills:N0} |");
        md.AppendLine(c, $"| states | {string.Join(", ", States.Select(s => $"{s.Key} {s.Value:N0}"))} |");
        md.AppendLine(c, $"| rejected by reason | {string.Join(", ", RejectReasons.Select(s => $"{s.Key} {s.Value:N0}"))} |");
        md.AppendLine(c, $"| refused (4xx) | {Refused:N0} {string.Join(", ", Refusals.Select(s => $"{s.Key} {s.Value:N0}"))} |");
        md.AppendLine(c, $"| errors | {Errors:N0} {string.Join(", ", ErrorKinds.Select(s => $"{s.Key} {s.Value:N0}"))}; shed {Shed:N0} |");
        md.AppendLine(c, $"| API latency ms p50 / p95 / p99 / max | {Api.P50} / {Api.P95} / {Api.P99} / {Api.Max} |");
        md.AppendLine(c, $"| push latency ms (201 → fill pushed) p50 / p95 / p99 / max | {Push.P50} / {Push.P95} / {Push.P99} / {Push.Max} ({PushedBeforeAnswer:N0} pushed before the answer) |");
        md.AppendLine(c, $"| confirmed ({Confirmation.Method}) | {Confirmation.Filled:N0} filled of {Confirmation.Checked:N0} checked, {Confirmation.Mismatches} mismatches; invariants {(Confirmation.InvariantsClean is { } clean ? clean ? "clean" : "VIOLATED" : "not checked")} |");
        md.AppendLine(c, $"| CPU (cores busy) | {string.Join(", ", CpuCores.Select(p => $"{p.Key} {p.Value:F2}"))} |");
        foreach (var v in Confirmation.Violations)
        {
            md.AppendLine(c, $"- {v}");
        }
        return md.ToString();
    }

    public async Task<string> WriteAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var name = Path.Combine(directory, $"bench-{RunId}");
        await File.WriteAllTextAsync(name + ".json", JsonSerializer.Serialize(this, Json));
        await File.WriteAllTextAsync(name + ".md", Markdown());
        return name + ".json";
    }
}
