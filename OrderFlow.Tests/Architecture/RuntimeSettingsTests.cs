using System.Text.Json;

namespace OrderFlow.Tests.Architecture;

/// <summary>
/// The runtime settings the host is built with (OrderFlow.Host.csproj), as the runtime reads them
/// from <c>OrderFlow.Host.runtimeconfig.json</c> — the file next to the host that the tests' own
/// host processes start with. Each was measured in docs/benchmarks.md; this keeps one from being
/// dropped unnoticed.
/// </summary>
[TestFixture]
public sealed class RuntimeSettingsTests
{
    [TestCase("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", "0")]
    [TestCase("System.Runtime.TieredPGO", "false")]
    [TestCase("System.GC.Server", "true")]
    public void Host_RunsWith(string setting, string value)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "OrderFlow.Host.runtimeconfig.json")));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.That(properties.TryGetProperty(setting, out var actual), Is.True, $"{setting} is set");
        Assert.That(actual.ToString(), Is.EqualTo(value).IgnoreCase);
    }
}
