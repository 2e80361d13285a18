using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using OrderFlow.Inventory;
using OrderFlow.Messaging;
using OrderFlow.Notification;
using OrderFlow.Orders;
using OrderFlow.Payment;

namespace OrderFlow.Tests.Architecture;

/// <summary>SPEC §1: each module is switched off by appsettings.json, environment or command line, and then registers nothing.</summary>
[TestFixture]
public sealed class ModuleToggleTests
{
    private static readonly (string Name, Func<IHostApplicationBuilder, IHostApplicationBuilder> Add, string Context)[] All =
    [
        ("Orders", b => b.AddOrdersModule(), "OrdersDbContext"),
        ("Inventory", b => b.AddInventoryModule(), "InventoryDbContext"),
        ("Payment", b => b.AddPaymentModule(), "PaymentDbContext"),
        ("Notification", b => b.AddNotificationModule(), "NotificationDbContext"),
    ];

    public static IEnumerable<TestCaseData> Cases() =>
        from module in All.Select(m => m.Name)
        from source in new[] { "appsettings.json", "environment", "command line" }
        select new TestCaseData(module, source).SetName($"AddModule_When{module}IsOffBy{source.Replace(" ", "").Replace(".", "")}_RegistersNothing");

    [TestCaseSource(nameof(Cases))]
    public void AddModule_WhenSwitchedOff_RegistersNothing(string module, string source)
    {
        var (builder, count) = Build(module, source, enabled: false);

        Assert.That(builder.Services.Count, Is.EqualTo(count), "the module added services although it is off");
    }

    [TestCaseSource(nameof(Cases))]
    public void AddModule_WhenSwitchedOn_RegistersItsConsumerAndStore(string module, string source)
    {
        var (builder, count) = Build(module, source, enabled: true);

        var spec = All.Single(m => m.Name == module);
        Assert.That(builder.Services.Count, Is.GreaterThan(count));
        Assert.That(builder.Services.Any(d => d.ServiceType.Name == spec.Context), Is.True);
        Assert.That(builder.Services.Where(d => d.ServiceType == typeof(EventConsumerRegistration)).Select(d => ((EventConsumerRegistration)d.ImplementationInstance!).GroupId),
            Is.EqualTo(new[] { $"orderflow-{module.ToLowerInvariant()}" }));
    }

    private static (HostApplicationBuilder Builder, int ServicesBefore) Build(string module, string source, bool enabled)
    {
        var key = $"OrderFlow:Modules:{module}:Enabled";
        var value = enabled ? "true" : "false";
        var args = Array.Empty<string>();
        string? envName = null;
        string? json = null;
        switch (source)
        {
            case "appsettings.json":
                json = Path.Combine(Path.GetTempPath(), $"orderflow-toggle-{Guid.NewGuid():N}.json");
                File.WriteAllText(json, $$"""{ "OrderFlow": { "Modules": { "{{module}}": { "Enabled": {{value}} } } } }""");
                break;
            case "environment":
                envName = $"ORDERFLOW_TOGGLE_TEST_OrderFlow__Modules__{module}__Enabled";
                Environment.SetEnvironmentVariable(envName, value);
                break;
            default:
                args = [$"--{key}={value}"];
                break;
        }
        try
        {
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, DisableDefaults = true });
            if (json is not null) builder.Configuration.AddJsonFile(json);
            if (envName is not null) builder.Configuration.AddEnvironmentVariables("ORDERFLOW_TOGGLE_TEST_");
            builder.Configuration.AddCommandLine(args);
            Assert.That(builder.Configuration[key], Is.EqualTo(value).IgnoreCase, $"the switch must arrive through {source}");
            var before = builder.Services.Count;
            All.Single(m => m.Name == module).Add(builder);
            return (builder, before);
        }
        finally
        {
            if (envName is not null) Environment.SetEnvironmentVariable(envName, null);
            if (json is not null) File.Delete(json);
        }
    }
}
