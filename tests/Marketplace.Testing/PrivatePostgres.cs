namespace Marketplace.Testing;

/// <summary>
/// A PostgreSQL cluster of a test's own (created with the project's scripts/lib.sh), so the test may stop and start
/// it — a database fault — without touching the server other tests use.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private PrivatePostgres(string name, int port, string connectionString)
    {
        Name = name;
        Port = port;
        ServerConnectionString = connectionString;
    }

    public string Name { get; }
    public int Port { get; }
    public string ServerConnectionString { get; }

    public static async Task<PrivatePostgres> StartAsync(string label)
    {
        var name = $"{label}-{Guid.NewGuid():N}"[..(label.Length + 9)];
        var port = ManagedProcess.FreePort();
        var output = await LibAsync($"mk_pg_start {name} {port} fast");
        return new PrivatePostgres(name, port, output.Last(l => l.StartsWith("Host=", StringComparison.Ordinal)));
    }

    /// <summary>Stops the server (fast shutdown: connections are cut, as in a crash of the database host).</summary>
    public Task StopAsync() => LibAsync($"mk_pg_stop {Name}");

    public Task StartAgainAsync() => LibAsync($"mk_pg_start {Name} {Port} fast");

    public async ValueTask DisposeAsync() => await LibAsync($"mk_pg_destroy {Name}");

    private static async Task<IReadOnlyList<string>> LibAsync(string command)
    {
        var (exitCode, output) = await ManagedProcess.RunAsync("bash",
            ["-c", $"source '{Path.Combine(ProcessCluster.RepositoryRoot, "scripts", "lib.sh")}' && {command}"],
            new Dictionary<string, string?>(), TimeSpan.FromSeconds(120));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"`{command}` failed ({exitCode}):\n{string.Join("\n", output)}");
        }
        return output;
    }
}
