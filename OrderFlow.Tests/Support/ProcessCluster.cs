namespace OrderFlow.Tests.Support;

/// <summary>Settings shared by OrderFlow processes of one test: broker port and SQLite file.</summary>
public sealed class ProcessCluster : IDisposable
{
    public ProcessCluster()
    {
        Directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        BrokerPort = HostProcess.FreePort();
    }

    public string Directory { get; }
    public int BrokerPort { get; }
    public string DatabasePath => Path.Combine(Directory, "orderflow.db");

    /// <summary>Command-line configuration for one process; extra settings are "Key=Value".</summary>
    public string[] Args(int httpPort, params string[] settings) =>
    [
        $"--Kafka:EmbeddedPort={BrokerPort}",
        $"--OrderFlow:Database:Path={DatabasePath}",
        $"--Urls=http://127.0.0.1:{httpPort}",
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:OrderFlow.Host=Information",
        "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        .. settings.Select(s => "--" + s),
    ];

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
