using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OrderFlow.Messaging;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// Every connection a module's context opens has the store's SQLite settings, also when
/// Microsoft.Data.Sqlite's pool hands the same connection out again (they are applied once per
/// connection, not on every Open); a file the store makes has the configured page size, and the
/// WAL's bound is the same in bytes whatever the file's page size; and the store's queries over a
/// list of ids are one SQL text whatever the list's length.
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
        using var services = TestStores.Payment(Path.Combine(directory, "store.db"), ("BusyTimeoutMs", "4321"));

        var first = Settings(services);
        var second = Settings(services);

        Assert.Multiple(() =>
        {
            Assert.That(second.Handle, Is.SameAs(first.Handle), "the pool handed out the same SQLite connection");
            Assert.That(second.Options, Is.SameAs(first.Options), "the context options are built once");
            foreach (var (_, _, busyTimeout, foreignKeys, synchronous, _) in new[] { first, second })
            {
                Assert.That(busyTimeout, Is.EqualTo(4321));
                Assert.That(foreignKeys, Is.EqualTo(1));
                Assert.That(synchronous, Is.EqualTo(1), "NORMAL");
            }
        });
    }

    [TestCase(null, 16_384)]
    [TestCase("8192", 8_192)]
    public async Task Migrator_OnANewFile_MakesItWithThePageSize_AndBoundsTheWalAt64MiB(string? setting, int pageSize)
    {
        var path = Path.Combine(directory, "store.db");
        await using var services = StoreServices(path, setting);
        await MigrateAsync(services);

        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        Assert.Multiple(() =>
        {
            Assert.That(Pragma(connection, "page_size"), Is.EqualTo(pageSize));
            Assert.That(PragmaValue(connection, "journal_mode"), Is.EqualTo("wal"));
            Assert.That(Settings(services).AutoCheckpoint, Is.EqualTo((64 << 20) / pageSize), "pages of the file's size");
        });
    }

    [Test]
    public async Task Migrator_OnAFileThatExists_KeepsItsPageSize_AndBoundsTheWalInItsPages()
    {
        var path = Path.Combine(directory, "store.db");
        using (var made = new SqliteConnection($"Data Source={path}"))
        {
            made.Open();
            using var command = made.CreateCommand();
            command.CommandText = "PRAGMA page_size=4096; CREATE TABLE notes (text TEXT);";
            command.ExecuteNonQuery();
        }
        await using var services = StoreServices(path, "32768");
        await MigrateAsync(services);

        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        Assert.Multiple(() =>
        {
            Assert.That(Pragma(connection, "page_size"), Is.EqualTo(4096), "SQLite fixed it when the file was made");
            Assert.That(Settings(services).AutoCheckpoint, Is.EqualTo(16_384), "64 MiB of 4 KiB pages");
        });
    }

    [Test]
    public async Task Query_OverListsOfIdsOfAnyLength_IsOneSqlTextWithOneJsonParameter_AndFindsTheRows()
    {
        await using var services = TestStores.Payment(Path.Combine(directory, "store.db"));
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
            await db.Database.MigrateAsync();
            await AddRequestsAsync(db, "ORD-1", "ORD-2", "ORD-3");
        }

        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
            IQueryable<PaymentRequest> Of(params string[] ids) => db.Requests.Where(r => ids.Contains(r.OrderId));
            // ToQueryString starts with the parameters' values (".param set @ids …"); the SQL follows.
            static string Sql(string query) => string.Join('\n', query.Split('\n').Where(line => !line.StartsWith(".param", StringComparison.Ordinal)));

            var one = Of("ORD-1").ToQueryString();
            var three = Of("ORD-1", "ORD-3", "ORD-9").ToQueryString();
            var found = await Of("ORD-1", "ORD-3", "ORD-9").AsNoTracking().Select(r => r.OrderId).ToListAsync();

            Assert.Multiple(() =>
            {
                Assert.That(Sql(three), Is.EqualTo(Sql(one)), "the SQL does not depend on the list's length");
                Assert.That(Sql(one), Does.Contain("json_each"));
                Assert.That(found, Is.EquivalentTo(new[] { "ORD-1", "ORD-3" }));
            });
        }
    }

    [Test]
    public async Task CompiledPreload_OverListsOfIdsOfAnyLength_IsOneSqlTextWithOneJsonParameter_AndTracksTheRows()
    {
        var preload = new ServiceCollection().AddEventConsumer<PaymentDbContext>("payment", "order-events")
            .Preload((PaymentDbContext db, IReadOnlySet<string> orderIds) => db.Requests.Where(r => orderIds.Contains(r.OrderId)))
            .Registration.Preload!;
        var commands = new CommandTexts();
        var options = new DbContextOptionsBuilder<PaymentDbContext>();
        StoreServiceCollectionExtensions.Configure<PaymentDbContext>(options, new StoreOptions { Path = Path.Combine(directory, "store.db") });
        options.AddInterceptors(commands);
        await using (var db = new PaymentDbContext(options.Options))
        {
            await db.Database.MigrateAsync();
            await AddRequestsAsync(db, "ORD-1", "ORD-2", "ORD-3");
        }

        async Task<(List<string> Sql, List<string> Tracked)> Preload(params string[] ids)
        {
            await using var db = new PaymentDbContext(options.Options);
            commands.Texts.Clear();
            await preload(db, ids.ToHashSet(), CancellationToken.None);
            return (commands.Texts.ToList(), db.ChangeTracker.Entries<PaymentRequest>().Select(e => e.Entity.OrderId).ToList());
        }

        var one = await Preload("ORD-1");
        var three = await Preload("ORD-1", "ORD-3", "ORD-9");

        Assert.Multiple(() =>
        {
            Assert.That(one.Sql, Has.Count.EqualTo(1));
            Assert.That(three.Sql, Is.EqualTo(one.Sql), "the SQL does not depend on the list's length");
            Assert.That(one.Sql.Single(), Does.Contain("json_each"));
            Assert.That(three.Tracked, Is.EquivalentTo(new[] { "ORD-1", "ORD-3" }), "the rows are in the change tracker");
        });
    }

    /// <summary>A store on <paramref name="path"/>, with <c>PageSize</c> set when <paramref name="pageSize"/> is not null.</summary>
    private static ServiceProvider StoreServices(string path, string? pageSize) =>
        pageSize is null ? TestStores.Payment(path) : TestStores.Payment(path, ("PageSize", pageSize));

    /// <summary>Runs the store's migrator as the host does at start-up.</summary>
    private static async Task MigrateAsync(IServiceProvider services)
    {
        foreach (var migrator in services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<StoreMigrator>())
            await migrator.StartAsync(CancellationToken.None);
    }

    /// <summary>One pending payment request per order id, saved.</summary>
    private static async Task AddRequestsAsync(PaymentDbContext db, params string[] orderIds)
    {
        foreach (var id in orderIds)
            db.Requests.Add(new PaymentRequest { OrderId = id, Status = PaymentStatus.Pending, UpdatedAt = new DateTime(2026, 1, 15, 0, 0, 0, DateTimeKind.Utc) });
        await db.SaveChangesAsync();
    }

    /// <summary>The SQL texts of the queries a context sends.</summary>
    private sealed class CommandTexts : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        public List<string> Texts { get; } = [];

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(
            System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result, CancellationToken cancellationToken = default)
        {
            Texts.Add(command.CommandText);
            return ValueTask.FromResult(result);
        }
    }

    private static (object Handle, object Options, long BusyTimeout, long ForeignKeys, long Synchronous, long AutoCheckpoint) Settings(IServiceProvider services)
    {
        using var scope = services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<PaymentDbContext>();
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            return (connection.Handle!, scope.ServiceProvider.GetRequiredService<DbContextOptions<PaymentDbContext>>(),
                Pragma(connection, "busy_timeout"), Pragma(connection, "foreign_keys"), Pragma(connection, "synchronous"), Pragma(connection, "wal_autocheckpoint"));
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    private static long Pragma(SqliteConnection connection, string name) =>
        Convert.ToInt64(PragmaValue(connection, name), System.Globalization.CultureInfo.InvariantCulture);

    private static object? PragmaValue(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name}";
        return command.ExecuteScalar();
    }
}
