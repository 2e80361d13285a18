using Microsoft.Extensions.Options;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

/// <summary><see cref="KafkaOptions.Read"/>: the broker is connected before the host is built, so its settings are checked there.</summary>
public sealed class KafkaOptionsTests
{
    [Test]
    public void Read_OfGoodSettings_BindsThem()
    {
        var options = KafkaOptions.Read(Settings.Of(("Kafka:Partitions", "3"), ("Kafka:ReplicationFactor", "-1"), ("Kafka:Properties:sasl.username", "me")));

        Assert.That((options.Partitions, options.ReplicationFactor, options.Properties["sasl.username"]), Is.EqualTo((3, (short)-1, "me")));
    }

    [Test]
    public void Read_OfSeveralBadSettings_NamesEachAtOnce()
    {
        var configuration = Settings.Of(("Kafka:Partitions", "0"), ("Kafka:ReplicationFactor", "0"), ("Kafka:OrderStatusTopic", "x.dlq"), ("Kafka:Partitons", "3"));

        var error = Assert.Throws<OptionsValidationException>(() => KafkaOptions.Read(configuration))!;

        Assert.That(error.Failures.Count(), Is.EqualTo(4));
        Assert.That(error.Message, Does.Contain("Kafka:Partitons is not a setting").And.Contain("Kafka:Partitions 0 must be between 1 and 1000")
            .And.Contain("Kafka:ReplicationFactor 0 must be at least 1, or -1").And.Contain("Kafka:OrderStatusTopic 'x.dlq'"));
    }

    [Test]
    public void TheHostsOptions_RunTheSameChecksAtStart()
    {
        using var services = new ServiceCollection().AddMessaging(Settings.Of(("Kafka:EmbeddedPort", "70000"))).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = services.GetRequiredService<IOptions<KafkaOptions>>().Value)!;

        Assert.That(error.Message, Does.Contain("Kafka:EmbeddedPort 70000 must be between 0 (any free port) and 65535"));
    }
}
