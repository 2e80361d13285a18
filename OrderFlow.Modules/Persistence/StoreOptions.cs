using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace OrderFlow.Persistence;

/// <summary>Where the shared SQLite database lives (<c>OrderFlow:Database</c>).</summary>
public sealed class StoreOptions
{
    public const string Section = "OrderFlow:Database";

    /// <summary>Path of the SQLite file, relative to the working directory unless rooted.</summary>
    public string Path { get; set; } = "data/orderflow.db";

    /// <summary>How long a writer waits for SQLite's single write lock before giving up (the message is then retried).</summary>
    [Range(0, int.MaxValue)]
    public int BusyTimeoutMs { get; set; } = 10_000;

    /// <summary>How often a background PASSIVE checkpoint copies the WAL into the database file (<see cref="WalCheckpointer"/>); 0 leaves it to SQLite's commits.</summary>
    [Range(0, int.MaxValue)]
    public int CheckpointIntervalMs { get; set; } = 250;

    /// <summary>
    /// SQLite's page size, in bytes, of a database file the host creates: a power of two from 512
    /// to 65,536. A file that exists keeps the size it was made with (SQLite cannot change it in
    /// WAL mode). 16 KiB rather than SQLite's 4 KiB: 3–7 % less CPU per order at 2,500 orders/s
    /// and at full speed, and a p99 at 2,500/s that kept its target more often on a loaded
    /// machine; but a small transaction writes more, so p99 at 1,000/s is ~1.35× and one
    /// transaction per message ~0.78× as fast (docs/benchmarks.md, seventeenth session).
    /// </summary>
    public int PageSize { get; set; } = 16_384;

    /// <summary>
    /// Whether the thread that holds the write turn runs ahead of the process's other threads
    /// (<see cref="WriterPriority"/>; Linux, with <c>CAP_SYS_NICE</c> or <c>RLIMIT_NICE</c>; elsewhere
    /// the host logs why not and goes on without it): 6–14 % more orders/s at full speed on 2 cores,
    /// ~12 % more p99 at 2,500 orders/s (docs/benchmarks.md, twenty-second session; the
    /// twenty-third's alternating runs at 2,500/s showed no difference beyond the noise).
    /// </summary>
    public bool RaiseWriterPriority { get; set; } = true;

    /// <summary>
    /// WAL size in bytes at which a commit checkpoints by itself: SQLite's default (1,000 pages of
    /// 4 KiB) without the background checkpoint, a backstop with it. Connections turn it into
    /// pages of their file's page size (<see cref="SqlitePragmas"/>).
    /// </summary>
    public long AutoCheckpointBytes => CheckpointIntervalMs > 0 ? 64L << 20 : 4_096_000;

    /// <summary>What is wrong with <see cref="PageSize"/>, or null.</summary>
    public string? PageSizeProblem() =>
        PageSize is >= 512 and <= 65_536 && System.Numerics.BitOperations.IsPow2(PageSize)
            ? null
            : $"{Section}:PageSize must be a power of two from 512 to 65536 (bytes), not {PageSize}";

    /// <summary>Why the database file cannot be where <see cref="Path"/> says (its directory, made here when missing, cannot be), or null.</summary>
    public string? PathProblem()
    {
        if (string.IsNullOrWhiteSpace(Path)) return $"{Section}:Path is empty";
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"{Section}:Path '{Path}': its directory cannot be made ({ex.Message})";
        }
    }

    public string ConnectionString()
    {
        if (PathProblem() is { } problem) throw new OptionsValidationException(Options.DefaultName, typeof(StoreOptions), [problem]);
        return $"Data Source={System.IO.Path.GetFullPath(Path)};Pooling=True;Default Timeout={Math.Max(1, BusyTimeoutMs / 1000)}";
    }
}
