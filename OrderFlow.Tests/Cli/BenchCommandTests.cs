using System.Text.Json;
using System.Text.Json.Nodes;
using OrderFlow.Host.Cli;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Cli;

/// <summary>
/// The benchmark command end to end on a tiny load: every part runs, writes its report and
/// verifies its store. It checks the command works, not any number (docs/benchmarks.md).
/// </summary>
[TestFixture]
public sealed class BenchCommandTests
{
    [Test]
    public async Task Bench_OnATinyLoadWithTheBrokerInItsOwnProcess_ReportsEveryPart()
    {
        using var cluster = new ProcessCluster();
        await using var bench = HostProcess.Start(
            ["bench", "--orders", "200", "--unbatched-orders", "100", "--rates", "50", "--rate-seconds", "2", "--warmup-seconds", "1",
             "--raw-messages", "1000", "--floor-orders", "300", "--floor-all-topics", "--stress-orders", "30", "--broker-process", "--out", cluster.Directory, "--Logging:LogLevel:Default=Warning"], null);

        var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(4));

        Assert.That(exit, Is.EqualTo(0), string.Join(Environment.NewLine, bench.Output));
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(cluster.Directory, "bench.json")));
        var report = json.RootElement;
        var raisePermitted = RaisePermitted();
        Assert.Multiple(() =>
        {
            Assert.That(report.GetProperty("raw_broker").GetProperty("consumed").GetInt32(), Is.EqualTo(1000));
            var floor = report.GetProperty("floor");
            Assert.That((floor.GetProperty("completed").GetInt64(), floor.GetProperty("notifications").GetInt64(), floor.GetProperty("inbox_rows").GetInt64()),
                Is.EqualTo((300L, 300L, 1200L)), "the floor pipeline took each order through its four stages once");
            Assert.That(floor.GetProperty("deliveries_per_order").GetInt32(), Is.EqualTo(16), "--floor-all-topics: every stage read every topic");
            Assert.That(floor.GetProperty("writer_priority_raised").GetBoolean(), Is.EqualTo(raisePermitted),
                "the floor's write turn is raised as the flow's is, where this machine permits it");
            Assert.That(floor.GetProperty("cpu_ms_per_order").GetDouble(), Is.GreaterThan(0).And.LessThan(1_000), "floor: CPU per order");
            if (OperatingSystem.IsLinux())
                Assert.That(floor.GetProperty("context_switches_per_order").GetDouble(), Is.GreaterThan(0), "floor: the threads' hand-offs per order are counted");
            Assert.That(FloorEventIdVersions(Path.Combine(cluster.Directory, "floor.db")), Is.EqualTo(new[] { 7 }),
                "the floor's event ids are time-ordered, as the flow's (random ones scatter its inbox inserts)");
            var events = report.GetProperty("floor_flow_events");
            Assert.That((events.GetProperty("completed").GetInt64(), events.GetProperty("notifications").GetInt64(), events.GetProperty("inbox_rows").GetInt64()),
                Is.EqualTo((300L, 300L, 1800L)), "the floor with the flow's events applied six per order: OrderCreated twice, the reservation twice, the payment, the terminal status change");
            Assert.That((events.GetProperty("shape").GetString(), events.GetProperty("deliveries_per_order").GetInt32(), events.GetProperty("sent_per_order").GetInt32()),
                Is.EqualTo(("flow-events", 16, 7)));
            Assert.That(FloorInboxByStage(Path.Combine(cluster.Directory, "floor-flow-events.db")),
                Is.EqualTo(new Dictionary<string, long> { ["inventory"] = 300, ["notification"] = 300, ["orders"] = 600, ["payment"] = 600 }),
                "each stage applied the flow's events for its module, and Notification only the terminal status change");
            Assert.That(FloorScalar(Path.Combine(cluster.Directory, "floor-flow-events.db"), "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"), Is.EqualTo(7L * 300),
                "seven events sent per order: OrderCreated, the reservation, the payment, three status changes and the notification");
            Assert.That(FloorScalar(Path.Combine(cluster.Directory, "floor.db"), "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"), Is.EqualTo(4L * 300),
                "four in the issue's chain");
            foreach (var part in new[] { "sustained", "batching_off", "stress" })
            {
                Assert.That(report.GetProperty(part).GetProperty("verify_exit_code").GetInt32(), Is.EqualTo(0), $"{part}: verify");
                Assert.That(report.GetProperty(part).GetProperty("broker_peak_rss_mb").GetDouble(), Is.GreaterThan(0), $"{part}: the broker ran apart");
                Assert.That(report.GetProperty(part).GetProperty("cpu_ms_per_order").GetDouble(), Is.GreaterThan(0).And.LessThan(1_000), $"{part}: CPU per order");
                Assert.That(report.GetProperty(part).GetProperty("allocated_kb_per_order").GetDouble(), Is.GreaterThan(1).And.LessThan(100_000), $"{part}: allocated per order");
                Assert.That(report.GetProperty(part).GetProperty("writer_priority_raised").GetBoolean(), Is.EqualTo(raisePermitted),
                    $"{part}: the write turn's holder is raised where this machine permits it (OrderFlow:Database:RaiseWriterPriority)");
                if (OperatingSystem.IsLinux())
                {
                    var groups = report.GetProperty(part).GetProperty("cpu_by_thread").EnumerateArray().ToList();
                    Assert.That(groups.Sum(g => g.GetProperty("share").GetDouble()), Is.EqualTo(1.0).Within(0.02), $"{part}: the thread groups add up to the process");
                    Assert.That(groups.Single(g => g.GetProperty("name").GetString()!.StartsWith("thread pool", StringComparison.Ordinal)).GetProperty("seconds").GetDouble(),
                        Is.GreaterThan(0), $"{part}: the workers' CPU is seen");
                    Assert.That(report.GetProperty(part).GetProperty("context_switches_per_order").GetDouble(), Is.GreaterThan(0),
                        $"{part}: the threads' hand-offs per order are counted");
                }
            }
            Assert.That(report.GetProperty("sustained").GetProperty("report").GetProperty("terminal").GetInt32(), Is.EqualTo(200));
            var sustained = report.GetProperty("sustained");
            var ratios = report.GetProperty("flow_against_floor");
            Assert.That(ratios.GetProperty("orders_per_second").GetDouble(),
                Is.EqualTo(sustained.GetProperty("settled_orders_per_second").GetDouble() / floor.GetProperty("orders_per_second").GetDouble()).Within(0.001),
                "the sustained run's settled orders/s as a multiple of the floor's");
            Assert.That(ratios.GetProperty("cpu_ms_per_order").GetDouble(),
                Is.EqualTo(sustained.GetProperty("cpu_ms_per_order").GetDouble() / floor.GetProperty("cpu_ms_per_order").GetDouble()).Within(0.001));
            Assert.That(ratios.GetProperty("floor_deliveries_per_order").GetInt32(), Is.EqualTo(16));
            Assert.That(bench.Output, Has.Some.Contains("sustained against the floor"));
            Assert.That(report.GetProperty("flow_against_floor_flow_events").GetProperty("orders_per_second").GetDouble(),
                Is.EqualTo(sustained.GetProperty("settled_orders_per_second").GetDouble() / events.GetProperty("orders_per_second").GetDouble()).Within(0.001),
                "the sustained run against the floor with the flow's events too");
            Assert.That(bench.Output, Has.Some.Contains("sustained against the floor with the flow's events"));
            Assert.That(report.GetProperty("machine").GetProperty("kernel").GetString(), Is.Not.Empty, "the kernel, which says what kind of machine ran it");
            var latency = report.GetProperty("latency")[0].GetProperty("report");
            Assert.That(latency.GetProperty("warmup_orders").GetInt32(), Is.EqualTo(50));
            Assert.That(latency.GetProperty("latency").GetProperty("count").GetInt32(), Is.EqualTo(100), "the warm-up orders are not measured");
            Assert.That(latency.GetProperty("latency_by_second").EnumerateArray().Sum(s => s.GetProperty("count").GetInt32()), Is.EqualTo(100),
                "the per-second series covers the measured orders");
            Assert.That(report.GetProperty("stress").GetProperty("report").GetProperty("terminal").GetInt32(), Is.EqualTo(30), "(g): --stress-orders");
            var targets = report.GetProperty("targets").EnumerateArray().ToList();
            Assert.That(targets.Select(t => t.GetProperty("target").GetString()![..3]), Is.EqualTo(new[] { "(b)", "(c)", "(d)", "(d)", "(e)", "(e)", "(f)", "(f)", "(g)" }),
                "every target of the issue, and the floor's yardstick");
            Assert.That(targets[0].GetProperty("met").ValueKind, Is.EqualTo(JsonValueKind.Null), "200 orders are not the 200k the target is for");
            var speedUp = sustained.GetProperty("settled_orders_per_second").GetDouble() / report.GetProperty("batching_off").GetProperty("settled_orders_per_second").GetDouble();
            Assert.That(targets[1].GetProperty("met").GetBoolean(), Is.EqualTo(speedUp >= 4), $"batching on against off (×{speedUp:F2}) is judged at any size");
            Assert.That(targets[2].GetProperty("measured").GetString(), Is.EqualTo("not run"), "--rates 50: no run at 100/s");
            Assert.That(targets[8].GetProperty("measured").GetString(), Does.Contain("for 30 orders"));
            Assert.That(bench.Output, Has.Some.Contains("Issue 5's targets"));
        });
    }

    [Test]
    public void Targets_OfAFullSizeBench_JudgeEachFigureAgainstTheIssue()
    {
        var report = FullSizeReport();

        var targets = BenchCommand.Targets(report);

        Assert.That(targets, Has.Count.EqualTo(9));
        Assert.That(targets.Select(t => t!["met"]?.GetValue<bool>()),
            Is.EqualTo(new bool?[] { true, true, true, false, true, null, false, null, true }),
            "5,600/s; ×18.7; p99 40 ms at 100/s; p99 260 ms at 2,500/s over 250; 360 MB; growth is read, not judged; ×0.51 under ×0.625; the floor with the flow's events is read, not judged; 0.6 s");
        Assert.That((string)targets[5]!["measured"]!, Is.EqualTo("+40 MB (50000 orders: 320 MB, 200000: 360 MB; 0.27 KB per order more)"));
        Assert.That((string)targets[6]!["measured"]!, Is.EqualTo("×0.51"));
        Assert.That((string)targets[7]!["measured"]!, Is.EqualTo("×0.95 at ×1.20 its CPU per order; that floor does ×0.53 the first's orders/s"), "5,800 against 11,000 orders/s");
    }

    [Test]
    public void Targets_WhenVerifyFailsOrAPartDidNotRun_AreNotMet_OrNotJudged()
    {
        var report = FullSizeReport();
        report["sustained"]!["verify_exit_code"] = 1;
        report["batching_off"]!["report"]!["terminal"] = 4999;
        report.Remove("latency");
        report["stress"]!["report"]!["terminal"] = 999;
        report["flow_against_floor"]!["floor_deliveries_per_order"] = 16;
        report.Remove("flow_against_floor_flow_events");

        var targets = BenchCommand.Targets(report);

        Assert.Multiple(() =>
        {
            Assert.That(targets[0]!["met"]!.GetValue<bool>(), Is.False, "5,600 orders/s do not count when verify fails");
            Assert.That((string)targets[0]!["measured"]!, Does.EndWith("verify FAILS"));
            Assert.That(targets[1]!["met"]!.GetValue<bool>(), Is.False, "nor against batching off, whose run left an order unfinished");
            Assert.That(((string)targets[2]!["measured"]!, targets[2]!["met"]), Is.EqualTo(("not run", (JsonNode?)null)));
            Assert.That(targets[6]!["met"], Is.Null, "the floor that reads every topic is not the issue's floor");
            Assert.That(((string)targets[7]!["measured"]!, targets[7]!["met"]), Is.EqualTo(("not run", (JsonNode?)null)), "the floor with the flow's events did not run");
            Assert.That(targets[8]!["met"]!.GetValue<bool>(), Is.False, "one of the 1,000 orders never became terminal");
        });
    }

    private static JsonObject FullSizeReport() => (JsonObject)JsonNode.Parse("""
        {
          "sustained": { "report": { "orders": 200000, "terminal": 200000 }, "settled_orders_per_second": 5600, "exit_code": 0, "verify_exit_code": 0, "peak_rss_mb": 360 },
          "sustained_quarter": { "report": { "orders": 50000, "terminal": 50000 }, "exit_code": 0, "peak_rss_mb": 320 },
          "batching_off": { "report": { "orders": 5000, "terminal": 5000 }, "settled_orders_per_second": 300, "exit_code": 0, "verify_exit_code": 0 },
          "latency": [
            { "offered_rate": 100, "exit_code": 0, "report": { "orders": 2500, "terminal": 2500, "orders_per_second": 100, "latency": { "p99_ms": 40 } } },
            { "offered_rate": 1000, "exit_code": 0, "report": { "orders": 25000, "terminal": 25000, "orders_per_second": 1000, "latency": { "p99_ms": 700 } } },
            { "offered_rate": 2500, "exit_code": 0, "report": { "orders": 62500, "terminal": 62500, "orders_per_second": 2480, "latency": { "p99_ms": 260 } } }
          ],
          "stress": { "report": { "orders": 1000, "terminal": 1000, "elapsed_seconds": 0.6 }, "exit_code": 0, "verify_exit_code": 0 },
          "floor": { "orders": 200000, "orders_per_second": 11000, "cpu_ms_per_order": 0.12 },
          "floor_flow_events": { "orders": 200000, "orders_per_second": 5800, "cpu_ms_per_order": 0.25 },
          "flow_against_floor": { "orders_per_second": 0.51, "cpu_ms_per_order": 2.5, "floor_deliveries_per_order": 4 },
          "flow_against_floor_flow_events": { "orders_per_second": 0.95, "cpu_ms_per_order": 1.2, "floor_deliveries_per_order": 16 }
        }
        """)!;

    // Every run gets the bench's pass-through settings; one they would refuse used to surface
    // only when the first run's process started (after the raw-broker and floor parts), or, with
    // --broker-process, as the broker process's exit. Now nothing runs at all.
    [TestCase("--Kafka:Bogus=1", "Kafka:Bogus is not a setting", true)]
    [TestCase("--OrderFlow:Messaging:MaxBatchSize=0", "The field MaxBatchSize must be between 1 and 10000", false)]
    public async Task Bench_WhenASettingWouldBeRefused_SaysWhichInOneLine_BeforeAnythingRuns(string setting, string problem, bool brokerProcess)
    {
        using var cluster = new ProcessCluster();
        var output = Path.Combine(cluster.Directory, "bench");
        await using var bench = HostProcess.Start(
            ["bench", "--orders", "20", "--skip", "small,unbatched,latency,stress", "--out", output, .. brokerProcess ? ["--broker-process"] : Array.Empty<string>(), setting], null);

        var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(1));

        var text = string.Join(Environment.NewLine, bench.Output);
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(OrderFlow.Host.StartupFailure.ExitCode), text);
            Assert.That(text, Does.Contain(OrderFlow.Host.StartupFailure.LinePrefix).And.Contain(problem));
            Assert.That(text, Does.Not.Contain("Unhandled exception"));
            Assert.That(Directory.Exists(output), Is.False, "no part ran: the raw broker, the floor and the runs write there");
        });
    }

    /// <summary>Whether this machine lets a thread of this process be raised (<see cref="OrderFlow.Persistence.WriterPriority"/>); leaves it off.</summary>
    private static bool RaisePermitted()
    {
        var permitted = OrderFlow.Persistence.WriterPriority.TryEnable() is null;
        if (permitted) OrderFlow.Persistence.WriterPriority.Disable();
        return permitted;
    }

    private static long FloorScalar(string database, string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The floor's inbox rows by stage.</summary>
    private static Dictionary<string, long> FloorInboxByStage(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT stage, count(*) FROM inbox GROUP BY stage";
        using var reader = command.ExecuteReader();
        var rows = new Dictionary<string, long>();
        while (reader.Read()) rows[reader.GetString(0)] = reader.GetInt64(1);
        return rows;
    }

    /// <summary>The <c>Guid</c> versions of the event ids in the floor's inbox (0 for an id that is not a <c>Guid</c>).</summary>
    private static int[] FloorEventIdVersions(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT event_id FROM inbox";
        using var reader = command.ExecuteReader();
        var versions = new SortedSet<int>();
        while (reader.Read()) versions.Add(Guid.TryParseExact(reader.GetString(0), "N", out var id) ? id.Version : 0);
        return [.. versions];
    }

    [Test]
    public async Task Bench_GivenAPartitionCount_RunsTheRawBrokerPartWithIt()
    {
        using var cluster = new ProcessCluster();
        await using var bench = HostProcess.Start(["bench", "--skip", "floor,floor-flow-events,sustained,small,unbatched,latency,stress", "--raw-messages", "100", "--out", cluster.Directory,
            "--Kafka:Partitions=3"], null);

        var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.That(exit, Is.EqualTo(0), string.Join(Environment.NewLine, bench.Output));
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(cluster.Directory, "bench.json")));
        var raw = json.RootElement.GetProperty("raw_broker");
        Assert.That((raw.GetProperty("partitions").GetInt32(), raw.GetProperty("consumed").GetInt32()), Is.EqualTo((3, 100)),
            "the baseline runs on the layout the flow's runs were given (it was always 12)");
    }

    [Test]
    public async Task Bench_WhenAnotherBenchWritesToItsDirectory_RefusesAndNamesIt()
    {
        using var cluster = new ProcessCluster();
        using (var first = BenchCommand.Claim(new DirectoryInfo(cluster.Directory)))
        {
            Assert.That(first, Is.Not.Null);
            Assert.That(BenchCommand.Claim(new DirectoryInfo(cluster.Directory)), Is.Null, "a second claim while the first is held");

            await using var bench = HostProcess.Start(["bench", "--skip", "floor,floor-flow-events,sustained,small,unbatched,latency,stress", "--raw-messages", "10", "--out", cluster.Directory], null);
            var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(1));

            Assert.That(exit, Is.EqualTo(2), string.Join(Environment.NewLine, bench.Output));
            Assert.That(string.Join(Environment.NewLine, bench.Output), Does.Contain($"Another bench is writing to {cluster.Directory}"));
            Assert.That(File.Exists(Path.Combine(cluster.Directory, "bench.json")), Is.False, "it wrote nothing");
        }
        using var again = BenchCommand.Claim(new DirectoryInfo(cluster.Directory));
        Assert.That(again, Is.Not.Null, "free again once the first is released");
    }

    [TestCase("--skip", "raw,batching-off", "--skip: no part batching-off; the parts are raw, floor, floor-flow-events, sustained, small, unbatched, latency, stress")]
    [TestCase("--floor-orders", "0", "--floor-orders: 0 is not a number of orders (1 or more)")]
    [TestCase("--stress-orders", "0", "--stress-orders: 0 is not a number of orders (1 or more)")]
    [TestCase("--rates", "100,fast", "--rates: '100,fast' is not a comma-separated list of orders/s above 0")]
    public async Task Bench_WithAnOptionItCannotUse_FailsNamingItBeforeRunning(string option, string value, string message)
    {
        using var cluster = new ProcessCluster();
        await using var bench = HostProcess.Start(["bench", option, value, "--out", cluster.Directory], null);

        var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.That(exit, Is.Not.EqualTo(0));
        Assert.That(bench.Output, Has.Some.Contains(message), string.Join(Environment.NewLine, bench.Output));
        Assert.That(Directory.EnumerateFiles(cluster.Directory), Is.Empty, "nothing ran");
    }

    [Test]
    public async Task Bench_WhenItsSettingsKeepARunFromStarting_StopsAfterItSayingWhy()
    {
        using var cluster = new ProcessCluster();
        // A setting the up-front check passes (it opens no database) and the run cannot use: its
        // store's path names a directory.
        var directory = Directory.CreateDirectory(Path.Combine(cluster.Directory, "a-directory")).FullName;
        await using var bench = HostProcess.Start(["bench", "--orders", "100", "--skip", "raw,floor,floor-flow-events", "--out", cluster.Directory, $"--OrderFlow:Database:Path={directory}"], null);

        var exit = await bench.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.That(exit, Is.EqualTo(2), string.Join(Environment.NewLine, bench.Output));
        Assert.That(bench.Output, Has.One.StartsWith("bench: the run sustained could not start, so nothing more was run.")
            .And.Contain("the database file (OrderFlow:Database:Path) cannot be used"));
        Assert.That(File.Exists(Path.Combine(cluster.Directory, "sustained-quarter.db")), Is.False, "the next run did not start");
    }
}
