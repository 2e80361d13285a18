using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using OrderFlow.Host;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Cli;

/// <summary>A setting that keeps the process from starting is one line on stderr and exit code 2, not a stack trace.</summary>
public sealed class StartupFailureTests
{
    [TestCase("OrderFlow:Messaging:MaxBatchSize=0", "OrderFlow:Messaging", "MaxBatchSize must be between 1 and 10000")]
    [TestCase("Kafka:EmbeddedPort=abc", "'abc' at 'Kafka:EmbeddedPort'", "System.Int32")]
    [TestCase("Kafka:OrderStatusTopic=x.dlq", "Kafka:OrderStatusTopic 'x.dlq'", "suffix of dead-letter topics")]
    [TestCase("Kafka:Partitions=0", "Kafka:Partitions 0", "must be between 1 and 1000")]
    [TestCase("Kafka:EmbeddedPort=70000", "Kafka:EmbeddedPort 70000", "must be between 0 (any free port) and 65535")]
    [TestCase("OrderFlow:Database:Path=/proc/orderflow/x.db", "OrderFlow:Database:Path '/proc/orderflow/x.db'", "its directory cannot be made")]
    [TestCase("OrderFlow:Database:PageSize=1000", "OrderFlow:Database:PageSize", "must be a power of two from 512 to 65536 (bytes), not 1000")]
    [TestCase("Urls=notaurl", "Urls 'notaurl'", "is not an address to listen on")]
    [TestCase("OrderFlow:Modules:Payment:Enable=false", "OrderFlow:Modules:Payment:Enable is not a setting", "has DeclineAbove, Enabled,")]
    [TestCase("OrderFlow:Modules:Payments:Enabled=false", "OrderFlow:Modules:Payments is not a setting", "has Inventory, Notification, Orders, Payment")]
    public async Task Host_WithABadSetting_SaysWhichInOneLineAndExitsWith2(string setting, string names, string reason)
    {
        using var cluster = new ProcessCluster();
        await using var host = HostProcess.Start(cluster.Args(HostProcess.FreePort(), setting), null);

        var exit = await host.WaitForExitAsync(TimeSpan.FromMinutes(1));

        var output = string.Join(Environment.NewLine, host.Output);
        Assert.That(exit, Is.EqualTo(StartupFailure.ExitCode), output);
        Assert.That(host.Output, Has.One.StartsWith("OrderFlow cannot start: ").And.Contain(names).And.Contain(reason), output);
        Assert.That(host.Output, Has.None.Contains("   at ").And.None.Contains("Unhandled exception"), "no stack trace");
        Assert.That(File.Exists(cluster.DatabasePath), Is.False, "nothing ran");
    }

    [Test]
    public async Task Host_WhenItsHttpAddressIsTaken_SaysSoInOneLineAndStopsWhatItStarted()
    {
        using var cluster = new ProcessCluster();
        var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
            await using var host = HostProcess.Start(cluster.Args(port), null);

            var exit = await host.WaitForExitAsync(TimeSpan.FromMinutes(1));

            var output = string.Join(Environment.NewLine, host.Output);
            Assert.That(exit, Is.EqualTo(StartupFailure.ExitCode), output);
            Assert.That(host.Output, Has.One.StartsWith($"OrderFlow cannot start: Failed to bind to address http://127.0.0.1:{port}: address already in use")
                .And.Contain("--Urls="), output);
            Assert.That(host.Output, Has.None.Contains("ObjectDisposedException"), "the consumers and relays stopped before the container went");
        }
        finally
        {
            taken.Stop();
        }
    }

    [Test]
    public async Task Host_WhenTheDatabasePathNamesAFileThatIsNoDatabase_SaysSoInOneLine()
    {
        using var cluster = new ProcessCluster();
        await File.WriteAllTextAsync(cluster.DatabasePath, "these are notes, not a database");
        await using var host = HostProcess.Start(cluster.Args(HostProcess.FreePort()), null);

        var exit = await host.WaitForExitAsync(TimeSpan.FromMinutes(1));

        var output = string.Join(Environment.NewLine, host.Output);
        Assert.That(exit, Is.EqualTo(StartupFailure.ExitCode), output);
        Assert.That(host.Output, Has.One.StartsWith("OrderFlow cannot start: the database file (OrderFlow:Database:Path) cannot be used: ")
            .And.Contain("file is not a database"), output);
        Assert.That(await File.ReadAllTextAsync(cluster.DatabasePath), Is.EqualTo("these are notes, not a database"), "the file is left as it was");
    }

    [Test]
    public async Task Generate_WithABadSetting_SaysWhichInOneLineAndExitsWith2()
    {
        using var cluster = new ProcessCluster();
        await using var generate = HostProcess.Start(["generate", "--orders", "10", .. cluster.Args(HostProcess.FreePort(), "OrderFlow:Messaging:MaxBatchSize=0")], null);

        var exit = await generate.WaitForExitAsync(TimeSpan.FromMinutes(1));

        var output = string.Join(Environment.NewLine, generate.Output);
        Assert.That(exit, Is.EqualTo(StartupFailure.ExitCode), output);
        Assert.That(generate.Output, Has.One.StartsWith("OrderFlow cannot start: settings OrderFlow:Messaging: ").And.Contain("MaxBatchSize"), output);
        Assert.That(generate.Output, Has.None.Contains("   at "), "no stack trace");
    }

    [Test]
    public async Task Verify_WithAMisspeltDatabaseKey_SaysWhichInsteadOfLookingAtTheDefaultPath()
    {
        using var cluster = new ProcessCluster();
        await using var verify = HostProcess.Start(["verify", $"--OrderFlow:Database:Pth={cluster.DatabasePath}"], null);

        var exit = await verify.WaitForExitAsync(TimeSpan.FromMinutes(1));

        Assert.That(exit, Is.EqualTo(StartupFailure.ExitCode), string.Join(Environment.NewLine, verify.Output));
        Assert.That(verify.Output, Has.One.StartsWith("OrderFlow cannot start: OrderFlow:Database:Pth is not a setting; OrderFlow:Database has "));
    }

    [Test]
    public void ConfigurationProblem_OfAValueTheBinderCannotConvert_NamesTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kafka:Partitions"] = "twelve" }).Build();
        var error = Assert.Throws<InvalidOperationException>(() => configuration.GetSection(KafkaOptions.Section).Get<KafkaOptions>())!;

        Assert.That(StartupFailure.ConfigurationProblem(error), Does.Contain("'twelve' at 'Kafka:Partitions'"));
    }

    [Test]
    public void ConfigurationProblem_OfSeveralInvalidOptions_ListsEach()
    {
        var error = new AggregateException(KafkaOptions.Invalid("first"), new OptionsValidationException("", typeof(MessagingOptions), ["second"]));

        Assert.That(StartupFailure.ConfigurationProblem(error), Is.EqualTo($"settings Kafka: first{Environment.NewLine}settings OrderFlow:Messaging: second"));
    }

    [Test]
    public void ConfigurationProblem_OfAnyOtherFailure_IsNone_SoItKeepsItsStackTrace()
    {
        Assert.That(StartupFailure.ConfigurationProblem(new InvalidOperationException("rd_kafka_new failed")), Is.Null);
        Assert.That(StartupFailure.ConfigurationProblem(new AggregateException(KafkaOptions.Invalid("bad"), new IOException("disk full"))), Is.Null);
    }
}
