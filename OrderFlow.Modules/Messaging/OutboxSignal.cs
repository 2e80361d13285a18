using System.Threading.Channels;
using OrderFlow.Persistence;

namespace OrderFlow.Messaging;

/// <summary>
/// Wakes a module's outbox relay right after a commit, so events leave without waiting for the next
/// poll; and hands it the rows a writer just committed, so that it need not read them back.
/// <para>
/// The hand-off is a shortcut, never the record: the rows are in the outbox table either way. The
/// relay takes handed-off rows only as an unbroken run of ids that starts right after the last id
/// it delivered (<see cref="TryTake"/>). Ids are integers given in commit order (AUTOINCREMENT,
/// one writer at a time), so such a run leaves out no committed row. A row that was not handed off
/// (written by a path that does not hand off, by another process, or dropped because the queue was
/// full) leaves a gap in the ids, and the relay reads the table as before.
/// </para>
/// </summary>
public sealed class OutboxSignal<TContext> where TContext : ModuleDbContext
{
    /// <summary>Rows held for the relay at most; past it, newer rows are left to the relay's read of the table (a relay that cannot send must not grow memory).</summary>
    internal const int Capacity = 8_192;

    private readonly Channel<bool> channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    private readonly Queue<PendingOutboxRow> committed = new();
    private readonly Lock gate = new();

    public void Notify() => channel.Writer.TryWrite(true);

    /// <summary>
    /// After a commit: keeps <paramref name="rows"/> (inserted by the transaction that committed, in
    /// id order) for the relay, as far as there is room, and wakes it.
    /// </summary>
    internal void Committed(IReadOnlyList<PendingOutboxRow> rows)
    {
        if (rows.Count > 0)
        {
            lock (gate)
            {
                for (var i = 0; i < rows.Count && committed.Count < Capacity; i++) committed.Enqueue(rows[i]);
            }
        }
        Notify();
    }

    /// <summary>The rows handed off and not yet taken.</summary>
    internal int Queued
    {
        get
        {
            lock (gate) return committed.Count;
        }
    }

    /// <summary>
    /// The handed-off rows with ids <paramref name="after"/> + 1, + 2, … (at most
    /// <paramref name="limit"/>), moved to <paramref name="rows"/>; false, with none moved, when the
    /// first row kept is not id <paramref name="after"/> + 1 (a gap: the table must be read). Rows
    /// at or below <paramref name="after"/>, already delivered from a read of the table, are dropped.
    /// </summary>
    internal bool TryTake(long after, int limit, List<PendingOutboxRow> rows)
    {
        lock (gate)
        {
            while (committed.TryPeek(out var first) && first.Id <= after) committed.Dequeue();
            var next = after + 1;
            while (rows.Count < limit && committed.TryPeek(out var row) && row.Id == next)
            {
                rows.Add(committed.Dequeue());
                next++;
            }
            return rows.Count > 0;
        }
    }

    /// <summary>Waits for a signal or the timeout, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            await channel.Reader.ReadAsync(timer.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}
