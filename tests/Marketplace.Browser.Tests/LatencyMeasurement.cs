using System.Globalization;
using System.Net.Http.Json;
using Xunit;
using Xunit.Abstractions;

namespace Marketplace.Browser.Tests;

/// <summary>
/// Measures (and only prints) how long a fill takes to show in the browser: from the API answering that the bid was
/// accepted to the SME page rendering its row as Filled. Both times are read from the same machine's clock.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LatencyMeasurement(BrowserFixture fixture, ITestOutputHelper output)
{
    private const int Bids = 20;

    [Fact]
    public async Task Bid_accepted_to_fill_rendered_in_the_browser()
    {
        var (tenantId, client, _) = await fixture.Market.TenantAsync("Beijing", DemoMarket.BeijingProgram);
        using var _ = client;
        await using var tab = await fixture.SignInAsync(Names.Roles.Sme, tenantId);
        var samples = new List<double>();
        for (var i = 0; i < Bids; i++)
        {
            var bid = await DemoMarket.Ok(client.PostAsJsonAsync("/api/v1/bids", DemoMarket.Bid("H800-80G", gpus: 1, hours: 1, startInHours: 1 + i % 12)));
            var accepted = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            Assert.Equal("Filled", bid.GetProperty("state").GetString());
            var id = bid.GetProperty("id").GetString()!;
            await tab.Page.WaitForFunctionAsync("id => window.__marketplace.rendered[id] !== undefined", id);
            samples.Add(await tab.Page.EvaluateAsync<double>("id => window.__marketplace.rendered[id]", id) - accepted);
        }

        samples.Sort();
        var report = string.Create(CultureInfo.InvariantCulture,
            $"bid accepted -> fill rendered in the browser, n={samples.Count}: p50={Percentile(samples, 50):F0} ms, p95={Percentile(samples, 95):F0} ms, max={samples[^1]:F0} ms (min {samples[0]:F0} ms)");
        output.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(BrowserFixture.OutputDirectory, "latency.txt"),
            report + Environment.NewLine + string.Join(Environment.NewLine, samples.Select(s => s.ToString("F0", CultureInfo.InvariantCulture))) + Environment.NewLine);
        Assert.Equal(Bids, samples.Count);
        Assert.Empty(tab.Errors);
    }

    /// <summary>Nearest-rank percentile of sorted samples.</summary>
    private static double Percentile(List<double> sorted, int percent) => sorted[Math.Max(0, (int)Math.Ceiling(percent / 100.0 * sorted.Count) - 1)];
}
