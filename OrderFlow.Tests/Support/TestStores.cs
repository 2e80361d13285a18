using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Support;

/// <summary>A module's store as a host registers it, on a SQLite file of the test's: for the tests of the shared persistence code.</summary>
public static class TestStores
{
    /// <summary>
    /// The Payment module's store (the smallest) on <paramref name="path"/>, with more
    /// <c>OrderFlow:Database</c> settings by name ("BusyTimeoutMs", "PageSize").
    /// </summary>
    public static ServiceProvider Payment(string path, params (string Name, string Value)[] settings)
    {
        var values = new Dictionary<string, string?> { ["OrderFlow:Database:Path"] = path };
        foreach (var (name, value) in settings) values[$"OrderFlow:Database:{name}"] = value;
        return new ServiceCollection().AddLogging().AddModuleStore<PaymentDbContext>(new ConfigurationBuilder().AddInMemoryCollection(values).Build())
            .BuildServiceProvider();
    }
}
