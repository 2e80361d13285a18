using System.Net;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using OrderFlow.Host;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>SASL and TLS settings under <c>Kafka:Properties</c> reach every Kafka client OrderFlow builds, with the secret from the environment.</summary>
[TestFixture]
public sealed partial class KafkaSecuritySettingsTests
{
    private static readonly Dictionary<string, string> SaslSsl = new()
    {
        ["security.protocol"] = "SASL_SSL",
        ["sasl.mechanism"] = "SCRAM-SHA-512",
        ["sasl.username"] = "orderflow",
        ["sasl.password"] = "s3cret-from-the-environment",
        ["ssl.ca.location"] = "/etc/orderflow/kafka-ca.pem",
        ["ssl.endpoint.identification.algorithm"] = "https",
    };

    [Test]
    public void ClientConfigs_WhenSaslAndTlsAreConfigured_CarryThemInProducerConsumerAndAdmin()
    {
        var clients = new KafkaClientFactory(Options.Create(new KafkaOptions { BootstrapServers = "kafka-1:9093", Properties = new(SaslSsl) }));

        var configs = new Dictionary<string, ClientConfig>
        {
            ["producer"] = clients.ProducerConfig(),
            ["consumer"] = clients.ConsumerConfig("orderflow-inventory"),
            ["admin"] = clients.AdminConfig(),
        };

        Assert.Multiple(() =>
        {
            foreach (var (client, config) in configs)
            foreach (var (key, value) in SaslSsl)
                Assert.That(config.Get(key), Is.EqualTo(value), $"{client}: {key}");
        });
    }

    [Test]
    public void ClientConfigs_WhenAPropertyOverridesADefault_TakeTheConfiguredValue()
    {
        var clients = new KafkaClientFactory(Options.Create(new KafkaOptions { Properties = new() { ["client.id"] = "shop-7", ["acks"] = "all" } }));

        Assert.That(clients.ProducerConfig().ClientId, Is.EqualTo("shop-7"));
    }

    [Test]
    public void Configuration_WhenThePasswordIsInTheEnvironment_ReachesTheClientsOfTheHostAndTheCliVerbs()
    {
        // How the CLI verbs (dlq list/replay) and the host read Kafka settings: appsettings.json,
        // then the environment. Only the password comes from the environment here.
        const string variable = "Kafka__Properties__sasl.password";
        Environment.SetEnvironmentVariable(variable, "from-env-8f2c1d");
        try
        {
            var configuration = OrderFlowApp.LoadConfiguration([], config => config.AddInMemoryCollection(
                SaslSsl.Where(p => p.Key != "sasl.password").ToDictionary(p => $"Kafka:Properties:{p.Key}", p => (string?)p.Value)));
            var kafka = configuration.GetSection(KafkaOptions.Section).Get<KafkaOptions>()!;
            var clients = new KafkaClientFactory(Options.Create(kafka));

            Assert.That(clients.ConsumerConfig("orderflow-dlq-reader").SaslPassword, Is.EqualTo("from-env-8f2c1d"));
            Assert.That(clients.ProducerConfig().Get("sasl.mechanism"), Is.EqualTo("SCRAM-SHA-512"));
            Assert.That(clients.AdminConfig().Get("security.protocol"), Is.EqualTo("SASL_SSL"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Test]
    public async Task RunningHost_WhenKafkaPropertiesAreConfigured_GivesThemToItsClientsAndStaysHealthy()
    {
        // Properties the embedded broker tolerates (SASL settings are ignored over PLAINTEXT), to
        // show the host's own factory, the one its consumers, producer and health check use, has them.
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Kafka:Properties:sasl.mechanism"] = "PLAIN",
            ["Kafka:Properties:sasl.username"] = "orderflow-host",
            ["Kafka:Properties:client.rack"] = "rack-security-test",
        });

        var clients = host.Service<KafkaClientFactory>();

        Assert.Multiple(() =>
        {
            foreach (ClientConfig config in new ClientConfig[] { clients.ProducerConfig(), clients.ConsumerConfig("orderflow-orders"), clients.AdminConfig() })
            {
                Assert.That(config.Get("sasl.username"), Is.EqualTo("orderflow-host"));
                Assert.That(config.Get("client.rack"), Is.EqualTo("rack-security-test"));
            }
        });
        var ready = await host.Http.GetAsync("/health/ready");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    /// <summary>
    /// Every Kafka client is configured by <see cref="KafkaClientFactory"/>, so no client can miss
    /// the security settings: a config object is created nowhere else, and every client builder
    /// takes one of the factory's configs.
    /// </summary>
    [Test]
    public void Sources_WhenTheyBuildAKafkaClient_TakeItsConfigFromTheFactory()
    {
        var offending = new List<string>();
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Root, "*.cs", SearchOption.AllDirectories)
                     .Where(f => f.Contains($"{Path.DirectorySeparatorChar}OrderFlow.Host{Path.DirectorySeparatorChar}") || f.Contains($"{Path.DirectorySeparatorChar}OrderFlow.Modules{Path.DirectorySeparatorChar}"))
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")))
        {
            var source = File.ReadAllText(file);
            var name = Path.GetRelativePath(RepoPaths.Root, file);
            if (Path.GetFileName(file) != "KafkaClientFactory.cs" && NewConfig().IsMatch(source)) offending.Add($"{name} creates a client config of its own");
            foreach (Match builder in NewBuilder().Matches(source))
            {
                var argument = builder.Groups["arg"].Value.TrimEnd(')');
                var fromFactory = argument.Contains("Config(", StringComparison.Ordinal)
                    || (argument == "config" && source.Contains(".AdminConfig()", StringComparison.Ordinal))
                    || Regex.IsMatch(source, $@"\b{Regex.Escape(argument)}\s*=\s*[\w.]+\.(Producer|Consumer|Admin)Config\(");
                if (!fromFactory) offending.Add($"{name}: {builder.Value}");
            }
        }

        Assert.That(offending, Is.Empty);
    }

    [GeneratedRegex(@"new\s+(ProducerConfig|ConsumerConfig|AdminClientConfig|ClientConfig)\b")]
    private static partial Regex NewConfig();

    [GeneratedRegex(@"new\s+(ProducerBuilder|ConsumerBuilder|AdminClientBuilder)(<[^>]*>)?\((?<arg>[^)]*\)?)\)?")]
    private static partial Regex NewBuilder();
}
