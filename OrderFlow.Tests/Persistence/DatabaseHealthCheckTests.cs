using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OrderFlow.Host.Health;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// <c>/health/ready</c>'s database check: the file must exist and hold the migrations tables of the
/// host's modules. It used to open the path with SQLite's default mode, which creates a missing
/// file: a database deleted under a running host came back empty and was reported healthy.
/// </summary>
public sealed class DatabaseHealthCheckTests
{
    private string directory = null!;
    private string path = null!;

    [SetUp]
    public void SetUp()
    {
        directory = Directory.CreateTempSubdirectory("orderflow-health-").FullName;
        path = Path.Combine(directory, "orderflow.db");
    }

    [TearDown]
    public void TearDown()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public async Task Check_WhenTheFileIsMissing_IsUnhealthyAndDoesNotCreateIt()
    {
        var result = await CheckAsync();

        Assert.That((result.Status, result.Description), Is.EqualTo((HealthStatus.Unhealthy, "SQLite at " + path + ": the file does not exist")));
        Assert.That(File.Exists(path), Is.False, "the probe must not make an empty database");
    }

    [Test]
    public async Task Check_OfADatabaseWithoutAModulesTables_IsUnhealthyNamingThem()
    {
        Execute("CREATE TABLE __orders_migrations (id TEXT)");

        var result = await CheckAsync();

        Assert.That(result.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(result.Description, Does.Contain("lacks __payment_migrations").And.Not.Contain("__orders_migrations"));
    }

    [Test]
    public async Task Check_OfADatabaseWithEveryModulesTables_IsHealthy()
    {
        Execute("CREATE TABLE __orders_migrations (id TEXT); CREATE TABLE __payment_migrations (id TEXT)");

        var result = await CheckAsync();

        Assert.That(result.Status, Is.EqualTo(HealthStatus.Healthy), result.Description);
    }

    [Test]
    public async Task Check_OfAFileThatIsNotADatabase_IsUnhealthy()
    {
        await File.WriteAllTextAsync(path, "not a database, just text that is long enough to be read as a header by SQLite");

        var result = await CheckAsync();

        Assert.That(result.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(result.Description, Does.StartWith($"SQLite at {path} is not reachable"));
    }

    private Task<HealthCheckResult> CheckAsync() =>
        new DatabaseHealthCheck(Options.Create(new StoreOptions { Path = path }), [new ModuleStore(typeof(OrdersDbContext)), new ModuleStore(typeof(PaymentDbContext))])
            .CheckHealthAsync(new HealthCheckContext());

    private void Execute(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
