using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;

namespace OrderFlow.Host.Cli;

/// <param name="Warmup">Orders created first, at the same rate, and left out of the latency figures (JIT, the consumers joining their groups).</param>
public sealed record GenerateSettings(int Orders, double Rate, int Users, int MaxInFlight, IReadOnlyList<string> Products, int Seed, TimeSpan Timeout, int Warmup = 0);

/// <param name="Count">How many orders the figures are taken from (the warm-up orders are not).</param>
public sealed record LatencySummary(double P50Ms, double P95Ms, double P99Ms, double MaxMs, int Count);

public sealed record GenerateReport(
    int Orders, int Terminal, double ElapsedSeconds, double OrdersPerSecond, LatencySummary Latency,
    IReadOnlyDictionary<string, int> Outcomes, bool TimedOut, int WarmupOrders = 0);

/// <summary>
/// Creates orders through the Orders module's placement service (in batches, one transaction
/// each), keeps at most <see cref="GenerateSettings.MaxInFlight"/> unfinished, and watches the
/// store until every order is terminal. Latency is creation to terminal state, as the store
/// recorded them.
/// </summary>
public sealed class LoadGenerator(IServiceScopeFactory scopes, TimeProvider clock)
{
    private const int ChunkSize = 500;
    private static readonly TimeSpan LookInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LookIntervalAtCap = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LookBack = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan SweepAfter = TimeSpan.FromSeconds(1);
    private const int SweepChunk = 1_000;

    public async Task<GenerateReport> RunAsync(GenerateSettings settings, IProgress<(int Created, int Terminal)>? progress, CancellationToken cancellationToken)
    {
        if (settings.Products.Count == 0) throw new InvalidOperationException("the catalogue (OrderFlow:Modules:Inventory:Catalog) has no products to order");
        var random = new Random(settings.Seed);
        var pending = new HashSet<string>(StringComparer.Ordinal);
        var total = settings.Warmup + settings.Orders;
        var warmup = new HashSet<string>(StringComparer.Ordinal);
        var latencies = new List<double>(settings.Orders);
        var outcomes = new Dictionary<string, int>();
        var created = 0;
        var watchFrom = clock.GetUtcNow().UtcDateTime - TimeSpan.FromSeconds(1);
        var stopwatch = Stopwatch.StartNew();
        var deadline = stopwatch.Elapsed + settings.Timeout;
        var lastLook = TimeSpan.Zero;
        var lastProgress = TimeSpan.Zero;

        while ((created < total || pending.Count > 0) && stopwatch.Elapsed < deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var allowed = settings.Rate > 0 ? (int)Math.Min(total, settings.Rate * stopwatch.Elapsed.TotalSeconds + 1) : total;
            var room = settings.MaxInFlight - pending.Count;
            var toCreate = Math.Min(Math.Min(allowed - created, room), ChunkSize);
            if (toCreate > 0)
            {
                var orders = Enumerable.Range(0, toCreate).Select(_ => NewOrder(random, settings)).ToList();
                var placing = Stopwatch.GetTimestamp();
                await using var scope = scopes.CreateAsyncScope();
                var placed = await scope.ServiceProvider.GetRequiredService<OrderPlacement>().PlaceManyAsync(orders, cancellationToken);
                StageTimings.Record("generator.place", placing, placed.Count);
                foreach (var order in placed)
                {
                    pending.Add(order.Id);
                    if (warmup.Count < settings.Warmup) warmup.Add(order.Id);
                }
                created += placed.Count;
            }

            // Looks early only when it waits for orders to finish: on every pass once all are
            // created (the run's end is when the last is seen), every 50 ms at the in-flight cap.
            // Waiting for the offered rate's next order it looked every ~2 ms, ~180 queries a
            // second at 100 orders/s; at the cap every ~10 ms, each look reading the window's
            // overlap again (3.6 % of the CPU at full speed, docs/benchmarks.md) — CPU the measured
            // flow did not get. The latencies come from the orders' own timestamps, not from when
            // the watcher sees them, and 50 ms of finished orders is a sliver of the cap.
            var sinceLook = stopwatch.Elapsed - lastLook;
            if (sinceLook >= LookInterval
                || toCreate <= 0 && (created >= total || room <= 0 && sinceLook >= LookIntervalAtCap))
            {
                lastLook = stopwatch.Elapsed;
                var looking = Stopwatch.GetTimestamp();
                var before = pending.Count;
                watchFrom = await CollectAsync(pending, warmup, latencies, outcomes, watchFrom, cancellationToken);
                if (pending.Count < before) lastProgress = stopwatch.Elapsed;
                else if ((created >= total || pending.Count >= settings.MaxInFlight) && pending.Count > 0 && stopwatch.Elapsed - lastProgress >= SweepAfter)
                {
                    // Waiting, and the window found nothing for a while: look the unfinished orders up
                    // by id, so an order whose terminal time fell before the window never holds the
                    // end of the run or a place in flight.
                    await SweepAsync(pending, warmup, latencies, outcomes, cancellationToken);
                    lastProgress = stopwatch.Elapsed;
                }
                StageTimings.Record("generator.watch", looking);
                progress?.Report((created, created - pending.Count));
            }
            if (toCreate <= 0) await Task.Delay(settings.Rate > 0 && created < total ? 2 : 10, cancellationToken);
        }
        stopwatch.Stop();

        latencies.Sort();
        var terminal = created - pending.Count;
        return new GenerateReport(
            total, terminal, stopwatch.Elapsed.TotalSeconds, terminal / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-9),
            new LatencySummary(Percentile(latencies, 0.50), Percentile(latencies, 0.95), Percentile(latencies, 0.99), latencies.Count == 0 ? 0 : latencies[^1], latencies.Count),
            outcomes, pending.Count > 0 || created < total, settings.Warmup);
    }

    /// <summary>Moves orders that became terminal out of <paramref name="pending"/>. Returns where the next look starts.</summary>
    private async Task<DateTime> CollectAsync(HashSet<string> pending, HashSet<string> warmup, List<double> latencies, Dictionary<string, int> outcomes, DateTime from, CancellationToken cancellationToken)
    {
        if (pending.Count == 0) return from;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        var newest = from;
        foreach (var order in await FinishedAsync(db.Orders.Where(o => o.TerminalAt >= from), cancellationToken))
        {
            if (order.TerminalAt > newest) newest = order.TerminalAt;
            Finish(order, pending, warmup, latencies, outcomes);
        }
        // Terminal times are taken when the Orders handlers run, just before their batch's write
        // turn, and one worker (the default) commits its batches in the order they ran, so a later
        // commit rarely carries an earlier time than one already seen — only when the saga or the
        // API commits in between, with several workers, across a clock step or in a second
        // process. The window looks back a little for those, and SweepAsync finds any order it
        // missed. Every look re-reads the overlap, so it is kept short (LookBack: an overlap of 1 s,
        // read every 200 ms, read each order ~6 times, 5 % of a run's CPU; it is 100 ms now).
        return newest - LookBack > from ? newest - LookBack : from;
    }

    private async Task SweepAsync(HashSet<string> pending, HashSet<string> warmup, List<double> latencies, Dictionary<string, int> outcomes, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        foreach (var chunk in pending.Chunk(SweepChunk))
        {
            foreach (var order in await FinishedAsync(db.Orders.Where(o => chunk.Contains(o.Id)), cancellationToken))
                Finish(order, pending, warmup, latencies, outcomes);
        }
    }

    /// <summary>The terminal orders among <paramref name="orders"/>, as the watcher needs them.</summary>
    private static Task<List<FinishedOrder>> FinishedAsync(IQueryable<Order> orders, CancellationToken cancellationToken) =>
        orders.AsNoTracking().Where(o => o.TerminalAt != null)
            .Select(o => new FinishedOrder(o.Id, o.Status, o.CreatedAt, o.TerminalAt!.Value))
            .ToListAsync(cancellationToken);

    private static void Finish(FinishedOrder order, HashSet<string> pending, HashSet<string> warmup, List<double> latencies, Dictionary<string, int> outcomes)
    {
        if (!pending.Remove(order.Id)) return;
        if (!warmup.Contains(order.Id)) latencies.Add((order.TerminalAt - order.CreatedAt).TotalMilliseconds);
        var outcome = order.Status.ToString();
        outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
    }

    private sealed record FinishedOrder(string Id, OrderStatus Status, DateTime CreatedAt, DateTime TerminalAt);

    private static NewOrder NewOrder(Random random, GenerateSettings settings)
    {
        var user = $"USER-{random.Next(1, settings.Users + 1):D4}";
        var lines = random.Next(1, 4);
        var items = new List<NewOrderLine>(lines);
        for (var i = 0; i < lines; i++)
        {
            var index = random.Next(settings.Products.Count);
            items.Add(new NewOrderLine(settings.Products[index], random.Next(1, 4), PriceOf(index)));
        }
        return new NewOrder(user, items);
    }

    /// <summary>A stable price per catalogue position: 9.99, 19.99, 29.99…</summary>
    public static decimal PriceOf(int index) => 9.99m + 10m * (index % 50);

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}
