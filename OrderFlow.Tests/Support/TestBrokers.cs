using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DotNet.Testcontainers.Builders;
using Testcontainers.Kafka;

namespace OrderFlow.Tests.Support;

/// <summary>A broker the messaging tests run against: the shared embedded one, or a real Kafka in Docker.</summary>
public abstract class TestBroker
{
    public const string Embedded = "embedded";
    public const string Docker = "docker";

    public abstract string BootstrapServers { get; }
    public abstract bool IsEmbedded { get; }
    public abstract void CreateTopic(string topic, int partitions);

    /// <summary>The broker for a fixture argument; the Docker one is skipped (Assert.Ignore) where no engine runs.</summary>
    public static async Task<TestBroker> ForAsync(string kind) => kind switch
    {
        Embedded => new EmbeddedTestBroker(),
        Docker => await DockerTestBroker.StartOnceAsync(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private sealed class EmbeddedTestBroker : TestBroker
    {
        public override string BootstrapServers => SharedBroker.Instance.BootstrapServers;
        public override bool IsEmbedded => true;
        public override void CreateTopic(string topic, int partitions) => SharedBroker.Instance.CreateTopic(topic, partitions);
    }
}

/// <summary>
/// Kafka in KRaft mode in a container (Testcontainers.Kafka), started once per test run. Where no
/// Docker engine runs, Testcontainers fails fast with DockerUnavailableException; the tests that
/// need it are then reported as skipped with that reason.
/// </summary>
public sealed class DockerTestBroker : TestBroker
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static KafkaContainer? container;
    private static string? unavailable;

    private DockerTestBroker(string bootstrapServers) => BootstrapServers = bootstrapServers;

    public override string BootstrapServers { get; }
    public override bool IsEmbedded => false;

    public static async Task<TestBroker> StartOnceAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (unavailable is not null) Assert.Ignore(unavailable);
            if (container is null)
            {
                try
                {
                    var candidate = new KafkaBuilder("confluentinc/cp-kafka:7.7.1").WithKRaft().Build();
                    await candidate.StartAsync();
                    container = candidate;
                }
                catch (DockerUnavailableException ex)
                {
                    unavailable = $"Needs a Docker engine for Testcontainers.Kafka, and none is available here: {ex.Message}";
                    Assert.Ignore(unavailable);
                }
            }
            return new DockerTestBroker(container!.GetBootstrapAddress());
        }
        finally
        {
            Gate.Release();
        }
    }

    public override void CreateTopic(string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        try
        {
            admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]).GetAwaiter().GetResult();
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
        }
    }

    public static async Task StopAsync()
    {
        if (container is not null) await container.DisposeAsync();
        container = null;
    }
}
