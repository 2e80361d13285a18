namespace OrderFlow.Persistence;

/// <summary>Where the shared SQLite database lives (<c>OrderFlow:Database</c>).</summary>
public sealed class StoreOptions
{
    public const string Section = "OrderFlow:Database";

    /// <summary>Path of the SQLite file, relative to the working directory unless rooted.</summary>
    public string Path { get; set; } = "data/orderflow.db";

    /// <summary>How long a writer waits for SQLite's single write lock before giving up (the message is then retried).</summary>
    public int BusyTimeoutMs { get; set; } = 10_000;

    /// <summary>How often a background PASSIVE checkpoint copies the WAL into the database file (<see cref="WalCheckpointer"/>); 0 leaves it to SQLite's commits.</summary>
    public int CheckpointIntervalMs { get; set; } = 250;

    /// <summary>WAL size in pages at which a commit checkpoints by itself: SQLite's 1,000 without the background checkpoint, a backstop with it.</summary>
    public int AutoCheckpointPages => CheckpointIntervalMs > 0 ? 16_384 : 1_000;

    public string ConnectionString()
    {
        var full = System.IO.Path.GetFullPath(Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        return $"Data Source={full};Pooling=True;Default Timeout={Math.Max(1, BusyTimeoutMs / 1000)}";
    }
}
