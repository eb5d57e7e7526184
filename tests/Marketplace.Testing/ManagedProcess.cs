using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Marketplace.Testing;

/// <summary>A child process of a test: its output kept, and stopped with SIGTERM (graceful) or SIGKILL (a crash).</summary>
public sealed partial class ManagedProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly StreamWriter? _log;
    private bool _logClosed;

    private ManagedProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        // The kept output is bounded; with MARKETPLACE_TEST_LOGS set (test.sh sets it) every line also goes to a file there.
        if (Environment.GetEnvironmentVariable("MARKETPLACE_TEST_LOGS") is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
            _log = new StreamWriter(Path.Combine(folder, $"{string.Join('-', name.Split(Path.GetInvalidFileNameChars()))}.log"), append: true) { AutoFlush = true };
            _log.WriteLine($"--- started {DateTimeOffset.UtcNow:O}");
        }
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public IReadOnlyList<string> Output => [.. _output];

    public static ManagedProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment,
        string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(Path.GetFullPath(arguments.FirstOrDefault() ?? fileName)) ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var managed = new ManagedProcess(name, process);
        process.OutputDataReceived += (_, e) => managed.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => managed.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return managed;
    }

    /// <summary>Runs a process to its end (at most <paramref name="timeout"/>) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Output)> RunAsync(string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?> environment, TimeSpan timeout)
    {
        await using var process = Start(Path.GetFileName(fileName), fileName, arguments, environment);
        using var cancel = new CancellationTokenSource(timeout);
        await process._process.WaitForExitAsync(cancel.Token);
        process._process.WaitForExit(); // drains the output
        return (process.ExitCode, process.Output);
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        _output.Enqueue(line);
        if (_log is not null)
        {
            lock (_log)
            {
                if (!_logClosed)
                {
                    _log.WriteLine(line);
                }
            }
        }
        while (_output.Count > 2_000)
        {
            _output.TryDequeue(out _);
        }
    }

    /// <summary>SIGKILL: the process dies at once, as in a machine failure.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>SIGTERM: the process shuts down gracefully.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, 15);
        }
    }

    /// <summary>Waits for the process to exit; throws <see cref="OperationCanceledException"/> if it has not after <paramref name="timeout"/>.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        // Awaited inside the using: a token source disposed before its timer fires never cancels, and the wait never ends.
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit(); // drains the output, so Output holds the last lines the process printed
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Terminate();
            try
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(15));
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }
        _process.Dispose();
        CloseLog();
    }

    /// <summary>Stops copying output to the log file (a process started again under the same name appends to it).</summary>
    public void CloseLog()
    {
        if (_log is not null)
        {
            lock (_log)
            {
                _logClosed = true;
                _log.Dispose();
            }
        }
    }

    /// <summary>
    /// A port for a process to listen on, from below the system's ephemeral range (32768 and up on Linux): a port the
    /// system hands out (port 0) may be taken by any outgoing connection, a database client's say, between the moment it
    /// is released here and the moment the process binds it. Ports are handed out in turn from a random start, each
    /// checked free, so two processes of one test run never get the same one.
    /// </summary>
    public static int FreePort()
    {
        for (var tries = 0; tries < PortRange; tries++)
        {
            var port = FirstPort + (int)((uint)Interlocked.Increment(ref _nextPort) % PortRange);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // in use: the next one
            }
        }
        throw new InvalidOperationException($"no free port between {FirstPort} and {FirstPort + PortRange}");
    }

    private const int FirstPort = 20_000;
    private const int PortRange = 12_000;
    private static int _nextPort = Random.Shared.Next(PortRange);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
