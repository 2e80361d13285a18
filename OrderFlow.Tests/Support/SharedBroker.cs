using OrderFlow.Host.Broker;

namespace OrderFlow.Tests;

/// <summary>One embedded broker for the whole test run (messaging tests that use topics of their own).</summary>
[SetUpFixture]
public sealed class SharedBroker
{
    public static EmbeddedBroker Instance { get; private set; } = null!;

    [OneTimeSetUp]
    public void Start() => Instance = EmbeddedBroker.Start(0, 4);

    [OneTimeTearDown]
    public async Task Stop()
    {
        await Instance.DisposeAsync();
        await Support.DockerTestBroker.StopAsync();
    }
}
