using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace OrderFlow.Tests.Support;

/// <summary>
/// OrderFlow.Host as a real operating-system process (the same build the tests reference), for
/// tests that split modules across processes, kill them with SIGKILL, or run the CLI verbs.
/// </summary>
public sealed partial class HostProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> lines = new();

    private HostProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public IReadOnlyCollection<string> Output => lines.ToArray();
    public bool HasExited => process.HasExited;
    public int ExitCode => process.ExitCode;

    public static HostProcess Start(params string[] args) => Start(args, null);

    public static HostProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OrderFlow.Host.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return new HostProcess(Process.Start(start)!);
    }

    /// <summary>Waits for an output line containing <paramref name="text"/>.</summary>
    public Task<string> WaitForLineAsync(string text, TimeSpan? timeout = null) =>
        Eventually.Value(() => Task.FromResult(lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal))), l => l is not null,
            $"process output to contain \"{text}\"; it printed:{Environment.NewLine}{string.Join(Environment.NewLine, lines.TakeLast(30))}", timeout ?? TimeSpan.FromSeconds(60))!;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed or committed.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    /// <summary>SIGTERM: the host shuts down gracefully.</summary>
    public async Task StopAsync()
    {
        if (process.HasExited) return;
        _ = SysKill(process.Id, 15);
        try { await WaitForExitAsync(TimeSpan.FromSeconds(30)); }
        catch (OperationCanceledException) { Kill(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        process.Dispose();
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SysKill(int pid, int signal);
}
