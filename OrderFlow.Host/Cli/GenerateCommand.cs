using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using OrderFlow.Inventory;
using OrderFlow.Orders;
using Spectre.Console;

namespace OrderFlow.Host.Cli;

/// <summary>
/// <c>generate</c>: the stress test of the original design. Alone on a machine it starts what it
/// needs in-process (embedded broker and all enabled modules); next to a running host (its
/// <c>/health/live</c> answers) it only creates orders in the shared store and watches them.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var orders = new Option<int>("--orders") { Description = "How many orders to create.", DefaultValueFactory = _ => 1000 };
        var rate = new Option<double>("--rate") { Description = "Orders per second to offer; 0 = as fast as possible.", DefaultValueFactory = _ => 0 };
        var users = new Option<int>("--users") { Description = "How many distinct users place the orders.", DefaultValueFactory = _ => 100 };
        // 5,000 keeps the flow saturated (2,000 gave the same orders/s) without a backlog that costs
        // the flow itself: with 20,000 a 200k run took ~17 % more CPU per order (in the profile,
        // page reads and writes and the embedded broker's walk of a partition's unread message
        // sets grow with it), and the mock broker's ~5 MiB per partition dropped unread events with
        // 4 partitions (docs/benchmarks.md and docs/reliability.md, tenth session).
        var inFlight = new Option<int>("--max-in-flight") { Description = "Most orders created but not yet terminal.", DefaultValueFactory = _ => 5_000 };
        // The embedded broker keeps ~5 MiB per partition (~11,000 status changes, measured in the
        // fourteenth session: Notification trailed by 11,581 in one partition when it lost the first).
        var maxLag = new Option<int>("--max-lag") { Description = "Most messages a consumer group of this process may have unread in one partition before new orders wait (standalone only; the embedded broker drops a partition's oldest messages beyond ~5 MiB); 0 = not watched.", DefaultValueFactory = _ => 4_000 };
        var warmup = new Option<int>("--warmup") { Description = "Orders created first, at the same rate, and left out of the figures (JIT, consumers joining); the measured orders start once all of them are terminal.", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated orders.", DefaultValueFactory = _ => 1 };
        var timeout = new Option<TimeSpan>("--timeout") { Description = "Give up when not every order is terminal by then.", DefaultValueFactory = _ => TimeSpan.FromMinutes(10) };
        var mode = new Option<string>("--mode") { Description = "auto (default), standalone or attach.", DefaultValueFactory = _ => "auto" };
        mode.AcceptOnlyFromAmong("auto", "standalone", "attach");
        var report = new Option<FileInfo?>("--report") { Description = "Also write the summary as JSON to this file." };
        var settle = new Option<bool>("--settle") { Description = "Before exiting, wait until every module is idle (last notifications applied), so verify judges everything; CPU and allocations per order then include that trailing work, and the report adds settled_orders_per_second." };

        var command = new Command("generate", "Create orders, wait until every one is terminal, and print throughput, latency and outcomes.")
        {
            orders, rate, users, inFlight, maxLag, warmup, seed, timeout, mode, report, settle,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        // On the options, not the command: a command validator sees 0 instead of the
        // DefaultValueFactory's value for an option not given (dotnet/command-line-api#2841).
        orders.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--orders must be at least 1"); });
        rate.Validators.Add(r => { if (r.GetValueOrDefault<double>() < 0) r.AddError("--rate must not be negative"); });
        users.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--users must be at least 1"); });
        warmup.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--warmup must not be negative"); });
        inFlight.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--max-in-flight must be at least 1"); });
        maxLag.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--max-lag must not be negative"); });
        timeout.Validators.Add(r => { if (r.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero) r.AddError("--timeout must be longer than 0 (such as 00:10:00)"); });
        command.SetAction(async (result, cancellationToken) =>
        {
            // The report is written after the run: a directory that cannot be made would lose it.
            if (result.GetValue(report) is { Directory: { } reportDirectory } reportFile)
            {
                try
                {
                    reportDirectory.Create();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"--report: cannot write {reportFile.FullName}: {ex.Message}");
                    return StartupFailure.ExitCode;
                }
            }
            var configArgs = CommandLine.ConfigArgs(result);
            var configuration = OrderFlowApp.LoadConfiguration(configArgs);
            // The stress test exercises the whole flow: products stocked for a demo of rejections
            // (PROD-LIMITED) are left out when the catalogue has well-stocked ones.
            var stock = configuration.GetSection(InventoryModule.Section).Get<InventoryOptions>()?.Catalog ?? [];
            var wellStocked = stock.Where(p => p.Value >= 1_000).Select(p => p.Key).Order().ToList();
            var catalog = wellStocked.Count > 0 ? wellStocked : stock.Keys.Order().ToList();
            var settings = new GenerateSettings(result.GetValue(orders), result.GetValue(rate), result.GetValue(users),
                result.GetValue(inFlight), catalog, result.GetValue(seed), result.GetValue(timeout), result.GetValue(warmup), result.GetValue(maxLag));
            var attach = result.GetValue(mode) switch
            {
                "attach" => true,
                "standalone" => false,
                _ => await HostAnswersAsync(configuration),
            };
            return await RunAsync(configArgs, configuration, settings, attach, result.GetValue(report), result.GetValue(settle), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(string[] configArgs, IConfiguration configuration, GenerateSettings settings, bool attach, FileInfo? reportFile, bool settle, CancellationToken cancellationToken)
    {
        IHost host;
        if (attach)
        {
            AnsiConsole.MarkupLine($"[grey]A host answers at {Markup.Escape(HostUrl(configuration))}: creating orders in its store and watching them.[/]");
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = configArgs, ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddOrdersStore(builder.Configuration);
            host = builder.Build();
        }
        else
        {
            AnsiConsole.MarkupLine("[grey]No host answers: starting the broker and the modules in this process.[/]");
            host = await OrderFlowApp.BuildWorkerAsync(configArgs, config => config.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Warning",
            }));
        }

        await using (host as IAsyncDisposable)
        {
            await host.StartAsync(cancellationToken);
            // Attached, the consumers run in the host: their lag is not known here.
            var metrics = attach ? null : host.Services.GetService<OrderFlow.Messaging.MessagingMetrics>();
            var generator = new LoadGenerator(host.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System,
                metrics is null ? null : () => WorstPartitionLag(metrics), attach ? null : host.Services.GetService<OrderFlow.Orders.TerminalOrderFeed>());
            // CPU of this process while the orders ran (the embedded broker's too when it runs here):
            // per order, a figure that noise on a shared machine moves less than orders/s.
            // Bytes allocated on the managed heap per order: unlike time, the machine's load does
            // not move it, so a change's effect on the garbage shows in a single pair of runs.
            // The thread snapshots are taken outside the measured span: their own reads and
            // allocations are not the orders'.
            var threadsBefore = ThreadCpu.Snapshot();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var switchesBefore = ContextSwitches.Read();
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var report = await RunWithProgressAsync(generator, settings, metrics, cancellationToken);
            // Settled: the work the orders caused after their terminal state (notifications, a
            // stage that trailed) is in the CPU and allocation figures, and in a second rate.
            TimeSpan? settledAfter = settle && !attach ? await SettleAsync(cancellationToken) : null;
            var allocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            var switches = ContextSwitches.Read() - switchesBefore;
            var cpuByThread = ThreadCpu.Between(threadsBefore, ThreadCpu.Snapshot(), cpuSeconds);
            var cpuMsPerOrder = report.Terminal == 0 ? 0 : cpuSeconds * 1000 / report.Terminal;
            var allocatedKbPerOrder = report.Terminal == 0 ? 0 : allocatedBytes / 1024.0 / report.Terminal;
            // Per order, as the CPU: how many times a thread gave up its core, not only how long the work took.
            double? switchesPerOrder = null, involuntaryPerOrder = null;
            if (switches is { } counted && report.Terminal > 0)
            {
                switchesPerOrder = (double)counted.Total / report.Terminal;
                involuntaryPerOrder = (double)counted.Involuntary / report.Terminal;
            }
            var peakRssMb = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
            Print(report, peakRssMb, cpuSeconds, cpuMsPerOrder, allocatedKbPerOrder, cpuByThread, switchesPerOrder, involuntaryPerOrder);
            if (reportFile is not null)
                await File.WriteAllTextAsync(reportFile.FullName, JsonSerializer.Serialize(new
                {
                    report, peak_rss_mb = peakRssMb, cpu_seconds = cpuSeconds, cpu_ms_per_order = cpuMsPerOrder,
                    allocated_kb_per_order = allocatedKbPerOrder, cpu_by_thread = cpuByThread,
                    context_switches_per_order = switchesPerOrder, involuntary_context_switches_per_order = involuntaryPerOrder,
                    mode = attach ? "attach" : "standalone", stages = OrderFlow.Messaging.StageTimings.Snapshot(),
                    settled_seconds = report.ElapsedSeconds + settledAfter?.TotalSeconds,
                    settled_orders_per_second = settledAfter is { } after ? report.Terminal / (report.ElapsedSeconds + after.TotalSeconds) : (double?)null,
                    writer_priority_raised = OrderFlow.Persistence.WriterPriority.Enabled,
                },
                    new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }), cancellationToken);
            await host.StopAsync(CancellationToken.None);
            return report.TimedOut ? 1 : 0;
        }
    }

    private static async Task<GenerateReport> RunWithProgressAsync(LoadGenerator generator, GenerateSettings settings, OrderFlow.Messaging.MessagingMetrics? metrics, CancellationToken cancellationToken)
    {
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            GenerateReport? report = null;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var created = context.AddTask("created", maxValue: settings.Warmup + settings.Orders);
                    var terminal = context.AddTask("terminal", maxValue: settings.Warmup + settings.Orders);
                    report = await generator.RunAsync(settings, new SyncProgress(p =>
                    {
                        created.Value = p.Created;
                        terminal.Value = p.Terminal;
                    }), cancellationToken);
                });
            return report!;
        }

        // Not a terminal (CI, a pipe): one line every two seconds instead of a redrawn bar.
        var last = Stopwatch.StartNew();
        return await generator.RunAsync(settings, new SyncProgress(p =>
        {
            if (last.Elapsed < TimeSpan.FromSeconds(2)) return;
            last.Restart();
            // Unread messages per group, and the most in one partition: a stage falling behind shows.
            var lag = metrics is null ? "" : "; unread " + string.Join(", ", metrics.ConsumerLag.Where(g => g.Value.Count > 0).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} {g.Value.Sum(x => x.Lag)} ({g.Value.Max(x => x.Lag)} in one partition)"));
            Console.WriteLine($"progress: {p.Created}/{settings.Warmup + settings.Orders} created, {p.Terminal} terminal{lag}");
        }), cancellationToken);
    }

    private static void Print(GenerateReport report, double peakRssMb, double cpuSeconds, double cpuMsPerOrder, double allocatedKbPerOrder,
        IReadOnlyList<ThreadCpu.Group> cpuByThread, double? switchesPerOrder, double? involuntaryPerOrder)
    {
        var table = new Table().AddColumns("Measure", "Value");
        table.AddRow("Orders", $"{report.Terminal} of {report.Orders} terminal");
        table.AddRow("Elapsed", $"{report.ElapsedSeconds:F2} s");
        table.AddRow("Throughput", $"{report.OrdersPerSecond:F0} orders/s");
        if (report.WarmupOrders > 0) table.AddRow("Warm-up orders (not in latency)", report.WarmupOrders.ToString());
        table.AddRow("Latency p50 / p95 / p99 / max", $"{report.Latency.P50Ms:F0} / {report.Latency.P95Ms:F0} / {report.Latency.P99Ms:F0} / {report.Latency.MaxMs:F0} ms");
        foreach (var (outcome, count) in report.Outcomes.OrderBy(o => o.Key)) table.AddRow(outcome, count.ToString());
        table.AddRow("Peak RSS", $"{peakRssMb:F0} MB");
        table.AddRow("CPU per order", $"{cpuMsPerOrder:F2} ms ({cpuSeconds / Math.Max(report.ElapsedSeconds, 1e-9):F1} of {Environment.ProcessorCount} cores)");
        table.AddRow("Allocated per order", $"{allocatedKbPerOrder:F1} KB");
        if (switchesPerOrder is { } perOrder)
            table.AddRow("Context switches per order", $"{perOrder:F1} ({involuntaryPerOrder:F1} involuntary)");
        if (cpuByThread.Count > 0)
            table.AddRow("CPU by thread", string.Join("\n", cpuByThread.Take(6).Select(g => $"{g.Share:P0} {g.Name}")));
        AnsiConsole.Write(table);
        if (report.LagHeldSeconds > 0)
            AnsiConsole.MarkupLine($"[yellow]New orders waited {report.LagHeldSeconds:F1} s for a consumer group more than --max-lag behind: a stage other than Orders set the pace.[/]");
        if (report.TimedOut) AnsiConsole.MarkupLine($"[red]Timed out: {report.Orders - report.Terminal} order(s) not terminal.[/]");
    }

    /// <summary>
    /// Waits (at most a minute) until no module applied or published anything for a second: the
    /// events that follow a terminal state (notifications) are applied before the broker, which
    /// keeps them in memory only, goes away with this process. Returns when the last activity was
    /// seen, from the call (to 0.1 s).
    /// </summary>
    private static async Task<TimeSpan> SettleAsync(CancellationToken cancellationToken)
    {
        static long Activity() => OrderFlow.Messaging.StageTimings.Snapshot()
            .Where(s => s.Stage.EndsWith(".handlers", StringComparison.Ordinal) || s.Stage.EndsWith(".produce", StringComparison.Ordinal)).Sum(s => s.Count);
        var clock = Stopwatch.StartNew();
        var last = Activity();
        var lastSeen = TimeSpan.Zero;
        while (clock.Elapsed < TimeSpan.FromMinutes(1) && clock.Elapsed - lastSeen < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            var now = Activity();
            if (now == last) continue;
            last = now;
            lastSeen = clock.Elapsed;
        }
        return lastSeen;
    }

    /// <summary>The most messages any consumer group of this process has unread in one partition, as <c>ConsumerLagMonitor</c> last measured it (0 before it has).</summary>
    internal static long WorstPartitionLag(OrderFlow.Messaging.MessagingMetrics metrics) =>
        metrics.ConsumerLag.Values.SelectMany(g => g).Select(p => p.Lag).DefaultIfEmpty(0).Max();

    private static string HostUrl(IConfiguration configuration)
    {
        var urls = configuration["Urls"] ?? "http://localhost:5080";
        return urls.Split(';', StringSplitOptions.RemoveEmptyEntries)[0].Replace("://*", "://localhost").Replace("://+", "://localhost").Replace("://0.0.0.0", "://localhost");
    }

    private static async Task<bool> HostAnswersAsync(IConfiguration configuration)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        try
        {
            using var response = await http.GetAsync(new Uri(new Uri(HostUrl(configuration)), "/health/live"));
            // 401: a host answers but wants a key for health checks (OrderFlow:Api:RequireKeyFor:Health).
            return response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.Unauthorized;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports inline, in order.</summary>
    private sealed class SyncProgress(Action<(int Created, int Terminal)> report) : IProgress<(int Created, int Terminal)>
    {
        public void Report((int Created, int Terminal) value) => report(value);
    }
}
