using System.CommandLine;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OrderFlow.Inventory;
using OrderFlow.Messaging;
using OrderFlow.Notification;
using OrderFlow.Orders;
using OrderFlow.Payment;
using OrderFlow.Persistence;
using Spectre.Console;

namespace OrderFlow.Host.Cli;

/// <summary><c>verify</c>: checks the invariants of SPEC §8 against the store; exit code 0 only if all hold.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var grace = new Option<TimeSpan>("--grace")
        {
            Description = "Time left for events still in flight (orders terminal for less than this are not judged on notifications, refunds and releases).",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(10),
        };
        var command = new Command("verify", "Check the invariants of the order flow against the store and print a report.") { grace };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (result, cancellationToken) =>
        {
            var configuration = OrderFlowApp.LoadConfiguration(CommandLine.ConfigArgs(result));
            return await RunAsync(configuration, result.GetValue(grace), Console.Out, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(IConfiguration configuration, TimeSpan grace, TextWriter output, CancellationToken cancellationToken)
    {
        // A misspelt database key would send verify to the default path: check the keys it reads.
        OrderFlowApp.ThrowOnUnknownSections(configuration, KnownSettings.Problems(configuration.GetSection(StoreOptions.Section), typeof(StoreOptions)));
        var store = configuration.GetSection(StoreOptions.Section).Get<StoreOptions>() ?? new StoreOptions();
        if (!File.Exists(Path.GetFullPath(store.Path)))
        {
            await output.WriteLineAsync($"No OrderFlow database at {Path.GetFullPath(store.Path)}; nothing to verify.");
            return 2;
        }

        await using var services = BuildServices(configuration);
        await using var scope = services.CreateAsyncScope();
        foreach (var context in new[] { typeof(OrderFlow.Orders.Data.OrdersDbContext), typeof(OrderFlow.Inventory.Data.InventoryDbContext), typeof(OrderFlow.Payment.Data.PaymentDbContext), typeof(OrderFlow.Notification.Data.NotificationDbContext) })
            await ((Microsoft.EntityFrameworkCore.DbContext)scope.ServiceProvider.GetRequiredService(context)).Database.MigrateAsync(cancellationToken);
        var checker = scope.ServiceProvider.GetRequiredService<InvariantChecker>();
        var sagaTimeout = scope.ServiceProvider.GetRequiredService<IOptions<OrdersOptions>>().Value.SagaTimeout;
        var results = await checker.CheckAsync(sagaTimeout, grace, cancellationToken);

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        var table = new Table().AddColumns("#", "Invariant", "Checked", "Result");
        foreach (var r in results)
            table.AddRow(r.Number.ToString(), Markup.Escape(r.Name), r.Checked.ToString(),
                r.Holds ? "[green]holds[/]" : $"[red]{r.Violations.Count} violation(s)[/]");
        console.Write(table);
        foreach (var r in results.Where(r => !r.Holds))
        {
            console.MarkupLine($"[red]Invariant {r.Number} fails:[/]");
            foreach (var v in r.Violations.Take(20)) console.WriteLine($"  - {v}");
            if (r.Violations.Count > 20) console.WriteLine($"  … and {r.Violations.Count - 20} more");
        }
        var ok = results.All(r => r.Holds);
        console.WriteLine(ok ? "All invariants hold." : "Some invariants fail.");
        return ok ? 0 : 1;
    }

    internal static ServiceProvider BuildServices(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddOrdersStore(configuration);
        services.AddInventoryStore(configuration);
        services.AddPaymentStore(configuration);
        services.AddNotificationStore(configuration);
        services.AddScoped<InvariantChecker>();
        return services.BuildServiceProvider();
    }
}
