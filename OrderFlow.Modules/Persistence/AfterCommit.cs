using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OrderFlow.Persistence;

/// <summary>
/// Runs the actions queued with <see cref="ModuleDbContext.AfterCommit"/> once the context's
/// transaction commits, and drops them when it rolls back. Metrics recorded
/// this way count what was committed exactly once, even when a batch fails and is re-applied
/// message by message. SaveChanges without a transaction of its own commits an implicit one,
/// which runs them too.
/// </summary>
internal sealed class AfterCommitInterceptor : DbTransactionInterceptor
{
    public static readonly AfterCommitInterceptor Instance = new();

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) =>
        (eventData.Context as ModuleDbContext)?.RunAfterCommit();

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        (eventData.Context as ModuleDbContext)?.RunAfterCommit();
        return Task.CompletedTask;
    }

    public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) =>
        (eventData.Context as ModuleDbContext)?.DiscardAfterCommit();

    public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        (eventData.Context as ModuleDbContext)?.DiscardAfterCommit();
        return Task.CompletedTask;
    }

    public override void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) =>
        (eventData.Context as ModuleDbContext)?.DiscardAfterCommit();

    public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        (eventData.Context as ModuleDbContext)?.DiscardAfterCommit();
        return Task.CompletedTask;
    }
}
