using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// Every connection a module's context opens has the store's SQLite settings, also when
/// Microsoft.Data.Sqlite's pool hands the same connection out again (they are applied once per
/// connection, not on every Open).
/// </summary>
[TestFixture]
public sealed class SqlitePragmasTests
{
    private string directory = null!;

    [SetUp]
    public void SetUp() => directory = Directory.CreateTempSubdirectory("orderflow-pragmas-").FullName;

    [TearDown]
    public void TearDown()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public void Open_OfAPooledConnectionAgain_FindsTheSettingsOfTheFirstOpen()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OrderFlow:Database:Path"] = Path.Combine(directory, "store.db"),
            ["OrderFlow:Database:BusyTimeoutMs"] = "4321",
        }).Build();
        using var services = new ServiceCollection().AddLogging().AddModuleStore<PaymentDbContext>(configuration).BuildServiceProvider();

        var first = Settings(services);
        var second = Settings(services);

        Assert.Multiple(() =>
        {
            Assert.That(second.Handle, Is.SameAs(first.Handle), "the pool handed out the same SQLite connection");
            Assert.That(second.Options, Is.SameAs(first.Options), "the context options are built once");
            foreach (var (_, _, busyTimeout, foreignKeys, synchronous) in new[] { first, second })
            {
                Assert.That(busyTimeout, Is.EqualTo(4321));
                Assert.That(foreignKeys, Is.EqualTo(1));
                Assert.That(synchronous, Is.EqualTo(1), "NORMAL");
            }
        });
    }

    private static (object Handle, object Options, long BusyTimeout, long ForeignKeys, long Synchronous) Settings(IServiceProvider services)
    {
        using var scope = services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            return (connection.Handle!, scope.ServiceProvider.GetRequiredService<DbContextOptions<PaymentDbContext>>(),
                Pragma(connection, "busy_timeout"), Pragma(connection, "foreign_keys"), Pragma(connection, "synchronous"));
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    private static long Pragma(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name}";
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
