using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using OrderFlow.Host.Cli;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Cli;

/// <summary>SPEC §6: the generate and verify verbs, as a user runs them.</summary>
[TestFixture]
public sealed class GenerateAndVerifyTests
{
    [Test]
    public async Task Generate_WhenNothingElseRuns_BringsUpWhatItNeedsAndFinishesEveryOrder()
    {
        using var cluster = new ProcessCluster();
        var report = Path.Combine(cluster.Directory, "reports", "new", "report.json"); // a directory generate makes
        await using var generate = HostProcess.Start(["generate", "--orders", "1000", "--settle", "--report", report, .. cluster.Args(HostProcess.FreePort())], null);

        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(2));

        var output = string.Join(Environment.NewLine, generate.Output);
        Assert.That(exit, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("starting the broker and the modules in this process"));
        Assert.That(output, Does.Contain("1000 of 1000 terminal"));
        Assert.That(output, Does.Contain("Throughput").And.Contain("p50 / p95 / p99 / max").And.Contain("Completed"));
        using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(report));
        Assert.That(json.RootElement.GetProperty("report").GetProperty("terminal").GetInt32(), Is.EqualTo(1000));
        Assert.Multiple(() =>
        {
            // Settled: counted to the last module's work, which ends after the last terminal state.
            var settled = json.RootElement.GetProperty("settled_orders_per_second").GetDouble();
            Assert.That(settled, Is.GreaterThan(0).And.LessThanOrEqualTo(json.RootElement.GetProperty("report").GetProperty("orders_per_second").GetDouble()));
            Assert.That(json.RootElement.GetProperty("settled_seconds").GetDouble(),
                Is.GreaterThanOrEqualTo(json.RootElement.GetProperty("report").GetProperty("elapsed_seconds").GetDouble()));
            Assert.That(json.RootElement.GetProperty("report").GetProperty("lag_held_seconds").GetDouble(), Is.Zero, "1,000 orders never put a group 4,000 behind");
        });

        await using var verify = HostProcess.Start(["verify", .. cluster.Args(HostProcess.FreePort())], null);
        Assert.That(await verify.WaitForExitAsync(TimeSpan.FromMinutes(1)), Is.EqualTo(0), string.Join(Environment.NewLine, verify.Output));
        Assert.That(verify.Output, Has.Some.Contains("All invariants hold."));
    }

    [TestCase("--max-lag", "-1", "--max-lag must not be negative")]
    [TestCase("--max-in-flight", "0", "--max-in-flight must be at least 1")]
    [TestCase("--timeout", "-00:00:05", "--timeout must be longer than 0")]
    [TestCase("--report", "/proc/orderflow/report.json", "--report: cannot write /proc/orderflow/report.json")]
    public async Task Generate_WithAnOptionOutOfRange_FailsNamingIt(string option, string value, string message)
    {
        using var cluster = new ProcessCluster();
        await using var generate = HostProcess.Start(["generate", "--orders", "10", option, value, .. cluster.Args(HostProcess.FreePort())], null);

        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.That(exit, Is.Not.EqualTo(0));
        Assert.That(string.Join(Environment.NewLine, generate.Output), Does.Contain(message));
        Assert.That(File.Exists(cluster.DatabasePath), Is.False, "nothing ran");
    }

    [Test]
    public async Task Generate_WhenAHostRunsOnTheSameStore_OnlyCreatesAndWatches()
    {
        using var cluster = new ProcessCluster();
        var apiPort = HostProcess.FreePort();
        await using var host = HostProcess.Start(cluster.Args(apiPort), null);
        await host.WaitForLineAsync("Application started");

        var report = Path.Combine(cluster.Directory, "report.json");
        await using var generate = HostProcess.Start(["generate", "--orders", "300", "--warmup", "100", "--report", report, .. cluster.Args(apiPort)], null);
        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(2));

        var output = string.Join(Environment.NewLine, generate.Output);
        Assert.That(exit, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("A host answers at"));
        Assert.That(output, Does.Contain("400 of 400 terminal").And.Contain("Warm-up orders (not in latency)"));
        using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(report));
        var summary = json.RootElement.GetProperty("report");
        Assert.Multiple(() =>
        {
            Assert.That(summary.GetProperty("warmup_orders").GetInt32(), Is.EqualTo(100));
            Assert.That(summary.GetProperty("latency").GetProperty("count").GetInt32(), Is.EqualTo(300), "latency is taken from the measured orders only");
        });
    }

    [Test]
    public async Task Verify_WhenTheStoreIsCorruptedOnPurpose_CatchesEachCorruptionAndExitsNonZero()
    {
        var directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        await using (var host = await TestHost.StartAsync(directory: directory))
        {
            var ids = new List<string>();
            for (var i = 0; i < 5; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 2, 10m)));
            foreach (var id in ids) await host.WaitForStatusAsync(id, "Completed");
            await host.AssertInvariantsEventuallyHoldAsync();
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OrderFlow:Database:Path"] = Path.Combine(directory, "orderflow.db"),
        }).Build();
        try
        {
            Assert.That(await RunVerifyAsync(configuration), Is.EqualTo((0, true)), "a clean store verifies");
            using var db = new SqliteConnection($"Data Source={Path.Combine(directory, "orderflow.db")}");
            db.Open();
            var completed = Scalar(db, "SELECT order_id FROM orders_orders WHERE status = 'Completed' LIMIT 1");

            Execute(db, $"INSERT INTO payment_ledger (entry_id, order_id, kind, amount, at) VALUES ('PAY-DOUBLE', '{completed}', 'Charge', '20.0', '2026-01-01 00:00:00')");
            var (exit, output) = await RunVerifyWithOutputAsync(configuration);
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{completed}: charged 2 times"));
            Execute(db, "DELETE FROM payment_ledger WHERE entry_id = 'PAY-DOUBLE'");

            Execute(db, "UPDATE inventory_stock SET available = available - 1 WHERE product_id = 'PROD-001'");
            (exit, output) = await RunVerifyWithOutputAsync(configuration);
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain("PROD-001: initial"));
            Execute(db, "UPDATE inventory_stock SET available = available + 1 WHERE product_id = 'PROD-001'");

            Execute(db, $"INSERT INTO notification_notifications (notification_id, order_id, user_id, outcome, message, sent_at) VALUES ('NTF-SECOND', '{completed}', 'USER-0', 'Cancelled', 'again', '2026-01-01 00:00:00')");
            (exit, output) = await RunVerifyWithOutputAsync(configuration);
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{completed}: 2 notifications"));
            Execute(db, "DELETE FROM notification_notifications WHERE notification_id = 'NTF-SECOND'");

            Assert.That(await RunVerifyAsync(configuration), Is.EqualTo((0, true)), "the repaired store verifies again");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    [Test]
    public async Task Verify_WhenThereIsNoDatabase_SaysSoAndExitsNonZero()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OrderFlow:Database:Path"] = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "none.db"),
        }).Build();

        var (exit, output) = await RunVerifyWithOutputAsync(configuration);

        Assert.That(exit, Is.EqualTo(2));
        Assert.That(output, Does.Contain("No OrderFlow database"));
    }

    private static async Task<(int, bool)> RunVerifyAsync(IConfiguration configuration)
    {
        var (exit, output) = await RunVerifyWithOutputAsync(configuration);
        return (exit, output.Contains("All invariants hold."));
    }

    private static async Task<(int Exit, string Output)> RunVerifyWithOutputAsync(IConfiguration configuration)
    {
        using var writer = new StringWriter();
        var exit = await VerifyCommand.RunAsync(configuration, TimeSpan.Zero, writer, CancellationToken.None);
        return (exit, writer.ToString());
    }

    private static void Execute(SqliteConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Scalar(SqliteConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return (string)command.ExecuteScalar()!;
    }
}
