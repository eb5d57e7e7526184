using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Diagnostics;

namespace Marketplace.Data.Hosting;

/// <summary>
/// Traces and meters both processes share: grain calls and PostgreSQL commands join the trace of the request that caused
/// them, and the runtime's and the process's meters sit beside the marketplace's own.
/// </summary>
public static class Telemetry
{
    /// <summary>
    /// The standard OpenTelemetry setting. Nothing is exported unless it is set: a deployment opts in to sending telemetry
    /// somewhere, it never does so by default. The exporter reads the rest of the standard settings itself
    /// (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_EXPORTER_OTLP_HEADERS</c>, ...).
    /// </summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>
    /// Grain calls and grain storage. Not the Orleans runtime's own source: its membership probes and directory calls would
    /// bury the requests' traces.
    /// </summary>
    public static readonly string[] OrleansSources = [ActivitySources.ApplicationGrainActivitySourceName, ActivitySources.StorageActivitySourceName];

    public static OpenTelemetryBuilder AddMarketplaceTelemetry(this IServiceCollection services, IConfiguration configuration, string serviceName)
    {
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(tracing => tracing.AddSource(OrleansSources).AddSource(CommitBatcher.ActivitySourceName).AddNpgsql())
            .WithMetrics(metrics => metrics.AddRuntimeInstrumentation().AddProcessInstrumentation());
        if (!string.IsNullOrWhiteSpace(configuration[OtlpEndpointSetting]))
        {
            telemetry.UseOtlpExporter();
        }
        return telemetry;
    }
}
