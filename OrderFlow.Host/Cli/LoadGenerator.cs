using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using OrderFlow.Messaging;
using OrderFlow.Orders;
using OrderFlow.Orders.Data;

namespace OrderFlow.Host.Cli;

/// <param name="Warmup">
/// Orders created first, at the same rate, and left out of the figures (JIT, the consumers joining
/// their groups); the measured orders start once every one of them is terminal, so the backlog the
/// cold start builds is not carried into the measured ones.
/// </param>
/// <param name="MaxPartitionLag">
/// Most messages a consumer group may have unread in one partition before the generator holds off
/// (0: not watched). The terminal state is the Orders module's; Notification, and any module that
/// falls behind, trails it, and the embedded broker keeps ~5 MiB per partition and drops the
/// oldest beyond that: a stage that fell that far behind would lose its events.
/// </param>
public sealed record GenerateSettings(int Orders, double Rate, int Users, int MaxInFlight, IReadOnlyList<string> Products, int Seed, TimeSpan Timeout, int Warmup = 0,
    int MaxPartitionLag = 0);

/// <param name="Count">How many orders the figures are taken from (the warm-up orders are not).</param>
public sealed record LatencySummary(double P50Ms, double P95Ms, double P99Ms, double MaxMs, int Count);

/// <summary>The measured orders created in one second of the run (counted from the first one's creation): how many, and their latency.</summary>
public sealed record LatencySecond(int Second, int Count, double P50Ms, double P99Ms);

/// <param name="OrdersPerSecond">Terminal orders per second of the run; with a warm-up, of the measured orders from their first creation to the run's end.</param>
/// <param name="LatencyBySecond">The measured orders' latency by the second they were created in: shows whether the run was steady or a backlog was draining.</param>
/// <param name="LagHeldSeconds">How long the generator held off because a consumer group was more than <see cref="GenerateSettings.MaxPartitionLag"/> behind in a partition: non-zero means a stage other than Orders set the pace.</param>
public sealed record GenerateReport(
    int Orders, int Terminal, double ElapsedSeconds, double OrdersPerSecond, LatencySummary Latency,
    IReadOnlyDictionary<string, int> Outcomes, bool TimedOut, int WarmupOrders = 0, IReadOnlyList<LatencySecond>? LatencyBySecond = null,
    double LagHeldSeconds = 0);

/// <summary>
/// Creates orders through the Orders module's placement service (in batches, one transaction
/// each), keeps at most <see cref="GenerateSettings.MaxInFlight"/> unfinished, and watches the
/// store until every order is terminal. Latency is creation to terminal state, as the store
/// recorded them. With <paramref name="worstPartitionLag"/> (the most messages any consumer group
/// of this process has unread in one partition) it also holds off while a group is more than
/// <see cref="GenerateSettings.MaxPartitionLag"/> behind. With <paramref name="terminalOrders"/>
/// (the Orders module runs in this process) it learns of the orders that finish here as they
/// commit, instead of reading the store for them; it still looks up by id, in the store, the
/// orders it has not seen finish for a while (made terminal by another process, say).
/// </summary>
public sealed class LoadGenerator(IServiceScopeFactory scopes, TimeProvider clock, Func<long>? worstPartitionLag = null, TerminalOrderFeed? terminalOrders = null)
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
        var total = settings.Warmup + settings.Orders;
        var tally = new Tally(settings.Orders);
        var created = 0;
        var watchFrom = clock.GetUtcNow().UtcDateTime - TimeSpan.FromSeconds(1);
        var stopwatch = Stopwatch.StartNew();
        var deadline = stopwatch.Elapsed + settings.Timeout;
        var lastLook = TimeSpan.Zero;
        var lastProgress = TimeSpan.Zero;
        // When the measured orders start: at once without a warm-up, else once every warm-up order is terminal.
        TimeSpan? measuredFrom = settings.Warmup == 0 ? TimeSpan.Zero : null;
        var lagHeld = TimeSpan.Zero;
        TimeSpan? lagHeldSince = null;
        using var feed = terminalOrders?.Start();

        while ((created < total || tally.Pending.Count > 0) && stopwatch.Elapsed < deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (measuredFrom is null && created == settings.Warmup && tally.WarmupPending == 0) measuredFrom = stopwatch.Elapsed;
            var draining = measuredFrom is null && created == settings.Warmup;
            var allowed = measuredFrom is not { } from
                ? Allowed(settings.Rate, stopwatch.Elapsed, settings.Warmup)
                : settings.Warmup + Allowed(settings.Rate, stopwatch.Elapsed - from, settings.Orders);
            var room = settings.MaxInFlight - tally.Pending.Count;
            var toCreate = Math.Min(Math.Min(allowed - created, room), ChunkSize);
            if (toCreate > 0 && settings.MaxPartitionLag > 0 && worstPartitionLag is not null)
            {
                if (worstPartitionLag() > settings.MaxPartitionLag)
                {
                    lagHeldSince ??= stopwatch.Elapsed;
                    toCreate = 0;
                }
                else if (lagHeldSince is { } since)
                {
                    lagHeld += stopwatch.Elapsed - since;
                    lagHeldSince = null;
                }
            }
            if (toCreate > 0)
            {
                var orders = Enumerable.Range(0, toCreate).Select(_ => NewOrder(random, settings)).ToList();
                var placing = Stopwatch.GetTimestamp();
                await using var scope = scopes.CreateAsyncScope();
                var placed = await scope.ServiceProvider.GetRequiredService<OrderPlacement>().PlaceManyAsync(orders, cancellationToken);
                StageTimings.Record("generator.place", placing, placed.Count);
                foreach (var order in placed) tally.Created(order.Id, warmup: created++ < settings.Warmup);
            }

            // Looks early only when it waits for orders to finish: on every pass once all are
            // created (the run's end is when the last is seen), every 50 ms at the in-flight cap
            // and while the warm-up drains. Waiting for the offered rate's next order it looked
            // every ~2 ms, ~180 queries a second at 100 orders/s; at the cap every ~10 ms, each look
            // reading the window's overlap again (3.6 % of the CPU at full speed, docs/benchmarks.md)
            // — CPU the measured flow did not get. The latencies come from the orders' own
            // timestamps, not from when the watcher sees them, and 50 ms of finished orders is a
            // sliver of the cap.
            // From the feed, a look costs a queue's take: on every pass.
            var sinceLook = stopwatch.Elapsed - lastLook;
            if (feed is not null || sinceLook >= LookInterval
                || toCreate <= 0 && (created >= total || (room <= 0 || draining) && sinceLook >= LookIntervalAtCap))
            {
                lastLook = stopwatch.Elapsed;
                var looking = Stopwatch.GetTimestamp();
                var before = tally.Pending.Count;
                if (feed is null) watchFrom = await CollectAsync(tally, watchFrom, cancellationToken);
                else
                {
                    while (feed.TryTake(out var order)) tally.Finish(new FinishedOrder(order.Id, order.Status, order.CreatedAt, order.TerminalAt));
                }
                if (tally.Pending.Count < before) lastProgress = stopwatch.Elapsed;
                else if ((created >= total || draining || tally.Pending.Count >= settings.MaxInFlight) && tally.Pending.Count > 0 && stopwatch.Elapsed - lastProgress >= SweepAfter)
                {
                    // Waiting, and the window found nothing for a while: look the unfinished orders up
                    // by id, so an order whose terminal time fell before the window never holds the
                    // end of the run or a place in flight.
                    await SweepAsync(tally, cancellationToken);
                    lastProgress = stopwatch.Elapsed;
                }
                StageTimings.Record("generator.watch", looking);
                progress?.Report((created, created - tally.Pending.Count));
            }
            if (toCreate <= 0) await Task.Delay(settings.Rate > 0 && created < total && !draining ? 2 : 10, cancellationToken);
        }
        stopwatch.Stop();
        if (lagHeldSince is { } heldSince) lagHeld += stopwatch.Elapsed - heldSince;

        var terminal = created - tally.Pending.Count;
        var seconds = settings.Warmup == 0 ? stopwatch.Elapsed.TotalSeconds : (stopwatch.Elapsed - (measuredFrom ?? stopwatch.Elapsed)).TotalSeconds;
        var counted = settings.Warmup == 0 ? terminal : tally.Latencies.Count;
        return new GenerateReport(
            total, terminal, stopwatch.Elapsed.TotalSeconds, counted / Math.Max(seconds, 1e-9), tally.Summary(),
            tally.Outcomes, tally.Pending.Count > 0 || created < total, settings.Warmup, tally.BySecond(), lagHeld.TotalSeconds);
    }

    /// <summary>How many of <paramref name="count"/> orders the offered rate allows after <paramref name="elapsed"/> (all of them without a rate).</summary>
    private static int Allowed(double rate, TimeSpan elapsed, int count) =>
        rate > 0 ? (int)Math.Min(count, rate * elapsed.TotalSeconds + 1) : count;

    /// <summary>Moves orders that became terminal out of the pending ones. Returns where the next look starts.</summary>
    private async Task<DateTime> CollectAsync(Tally tally, DateTime from, CancellationToken cancellationToken)
    {
        if (tally.Pending.Count == 0) return from;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        var newest = from;
        foreach (var order in await FinishedAsync(db.Orders.Where(o => o.TerminalAt >= from), cancellationToken))
        {
            if (order.TerminalAt > newest) newest = order.TerminalAt;
            tally.Finish(order);
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

    private async Task SweepAsync(Tally tally, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDbContext>();
        foreach (var chunk in tally.Pending.Chunk(SweepChunk))
        {
            foreach (var order in await FinishedAsync(db.Orders.Where(o => chunk.Contains(o.Id)), cancellationToken))
                tally.Finish(order);
        }
    }

    /// <summary>The terminal orders among <paramref name="orders"/>, as the watcher needs them.</summary>
    private static Task<List<FinishedOrder>> FinishedAsync(IQueryable<Order> orders, CancellationToken cancellationToken) =>
        orders.AsNoTracking().Where(o => o.TerminalAt != null)
            .Select(o => new FinishedOrder(o.Id, o.Status, o.CreatedAt, o.TerminalAt!.Value))
            .ToListAsync(cancellationToken);

    /// <summary>The run's orders: the unfinished ones, the warm-up ones among them, the measured ones' latencies and every outcome.</summary>
    private sealed class Tally(int measured)
    {
        private readonly HashSet<string> warmup = new(StringComparer.Ordinal);
        private readonly List<(DateTime CreatedAt, double Ms)> measuredOrders = new(measured);

        public HashSet<string> Pending { get; } = new(StringComparer.Ordinal);
        public List<double> Latencies { get; } = new(measured);
        public Dictionary<string, int> Outcomes { get; } = [];
        public int WarmupPending { get; private set; }

        public void Created(string id, bool warmup)
        {
            Pending.Add(id);
            if (!warmup) return;
            this.warmup.Add(id);
            WarmupPending++;
        }

        public void Finish(FinishedOrder order)
        {
            if (!Pending.Remove(order.Id)) return;
            if (warmup.Contains(order.Id)) WarmupPending--;
            else
            {
                var ms = (order.TerminalAt - order.CreatedAt).TotalMilliseconds;
                Latencies.Add(ms);
                measuredOrders.Add((order.CreatedAt, ms));
            }
            var outcome = order.Status.ToString();
            Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + 1;
        }

        public LatencySummary Summary()
        {
            Latencies.Sort();
            return new LatencySummary(Percentile(Latencies, 0.50), Percentile(Latencies, 0.95), Percentile(Latencies, 0.99),
                Latencies.Count == 0 ? 0 : Latencies[^1], Latencies.Count);
        }

        public List<LatencySecond> BySecond()
        {
            if (measuredOrders.Count == 0) return [];
            var first = measuredOrders.Min(o => o.CreatedAt);
            return measuredOrders
                .GroupBy(o => (int)(o.CreatedAt - first).TotalSeconds)
                .OrderBy(g => g.Key)
                .Select(g =>
                {
                    var sorted = g.Select(o => o.Ms).Order().ToList();
                    return new LatencySecond(g.Key, sorted.Count, Percentile(sorted, 0.50), Percentile(sorted, 0.99));
                })
                .ToList();
        }
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
