using System.Reflection;
using System.Text.RegularExpressions;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Architecture;

/// <summary>SPEC §1: modules never use each other's code or tables; they share only Contracts, Messaging and Persistence.</summary>
[TestFixture]
public sealed partial class ModuleBoundaryTests
{
    private static readonly string[] Modules = ["Orders", "Inventory", "Payment", "Notification"];
    private static readonly Dictionary<string, Type> Contexts = new()
    {
        ["Orders"] = typeof(OrderFlow.Orders.Data.OrdersDbContext),
        ["Inventory"] = typeof(OrderFlow.Inventory.Data.InventoryDbContext),
        ["Payment"] = typeof(OrderFlow.Payment.Data.PaymentDbContext),
        ["Notification"] = typeof(OrderFlow.Notification.Data.NotificationDbContext),
    };

    [TestCaseSource(nameof(EachModule))]
    public void Tables_OfAModule_CarryItsPrefix(string module)
    {
        var tables = TablesOf(module);
        Assert.That(tables, Is.Not.Empty);
        Assert.That(tables, Is.All.StartsWith(module.ToLowerInvariant() + "_"));
    }

    private static List<string> TablesOf(string module)
    {
        var builder = (Microsoft.EntityFrameworkCore.DbContextOptionsBuilder)Activator.CreateInstance(
            typeof(Microsoft.EntityFrameworkCore.DbContextOptionsBuilder<>).MakeGenericType(Contexts[module]))!;
        Microsoft.EntityFrameworkCore.SqliteDbContextOptionsBuilderExtensions.UseSqlite(builder, "Data Source=:memory:");
        using var db = (Microsoft.EntityFrameworkCore.DbContext)Activator.CreateInstance(Contexts[module], builder.Options)!;
        return db.Model.GetEntityTypes().Select(Microsoft.EntityFrameworkCore.RelationalEntityTypeExtensions.GetTableName)
            .OfType<string>().Distinct().ToList();
    }

    public static IEnumerable<string> EachModule() => Modules;

    [TestCaseSource(nameof(EachModule))]
    public void Types_OfAModule_ReferenceNoOtherModulesTypes(string module)
    {
        var assembly = typeof(OrderFlow.Contracts.Topics).Assembly;
        var own = assembly.GetTypes().Where(t => InModule(t, module)).ToList();
        var offending = new List<string>();
        foreach (var type in own)
        foreach (var used in UsedTypes(type))
            if (Modules.Where(m => m != module).Any(other => InModule(used, other)))
                offending.Add($"{type.FullName} uses {used.FullName}");

        Assert.That(own, Is.Not.Empty);
        Assert.That(offending, Is.Empty);
    }

    [TestCaseSource(nameof(EachModule))]
    public void Sources_OfAModule_NameNoOtherModuleOrItsTables(string module)
    {
        var folder = Path.Combine(RepoPaths.Root, "OrderFlow.Modules", module);
        var offending = new List<string>();
        foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("Migrations")))
        {
            var text = File.ReadAllText(file);
            foreach (var other in Modules.Where(m => m != module))
            {
                if (Regex.IsMatch(text, $@"\bOrderFlow\.{other}\b")) offending.Add($"{Path.GetFileName(file)} names OrderFlow.{other}");
                foreach (var table in TablesOf(other).Where(t => text.Contains(t, StringComparison.Ordinal)))
                    offending.Add($"{Path.GetFileName(file)} names the {other} table {table}");
            }
        }
        Assert.That(offending, Is.Empty);
    }

    [Test]
    public void SharedFolders_ReferenceNoModule()
    {
        var assembly = typeof(OrderFlow.Contracts.Topics).Assembly;
        var shared = assembly.GetTypes().Where(t => t.Namespace is "OrderFlow.Contracts" or "OrderFlow.Messaging"
            && !t.Name.Contains("DesignTime", StringComparison.Ordinal)).ToList();
        var offending = shared.SelectMany(t => UsedTypes(t).Where(u => Modules.Any(m => InModule(u, m))).Select(u => $"{t.FullName} uses {u.FullName}")).ToList();
        Assert.That(offending, Is.Empty);
    }

    private static bool InModule(Type type, string module) =>
        type.Namespace is { } ns && (ns == $"OrderFlow.{module}" || ns.StartsWith($"OrderFlow.{module}.", StringComparison.Ordinal));

    private static IEnumerable<Type> UsedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var types = new List<Type?> { type.BaseType };
        types.AddRange(type.GetInterfaces());
        types.AddRange(type.GetFields(all).Select(f => f.FieldType));
        types.AddRange(type.GetProperties(all).Select(p => p.PropertyType));
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            types.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method is MethodInfo info) types.Add(info.ReturnType);
            if (method.GetMethodBody() is { } body) types.AddRange(body.LocalVariables.Select(l => l.LocalType));
        }
        return types.Where(t => t is not null).SelectMany(Expand!).Distinct();
    }

    private static IEnumerable<Type> Expand(Type type)
    {
        yield return type;
        if (type.HasElementType) foreach (var t in Expand(type.GetElementType()!)) yield return t;
        if (type.IsGenericType) foreach (var arg in type.GetGenericArguments()) foreach (var t in Expand(arg)) yield return t;
    }
}
