using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using OrderFlow.Inventory.Data;
using OrderFlow.Notification.Data;
using OrderFlow.Orders.Data;
using OrderFlow.Payment.Data;
using OrderFlow.Persistence;

namespace OrderFlow.Tests.Persistence;

/// <summary>
/// <see cref="SqliteDateTimeText"/> must write exactly the text Microsoft.Data.Sqlite writes for a
/// DateTime parameter and read back what Microsoft.Data.Sqlite's own reader reads, so stores written
/// before and after it, and queries comparing dates as text, stay the same.
/// </summary>
[TestFixture]
public sealed class SqliteDateTimeTextTests
{
    private static IEnumerable<DateTime> Samples()
    {
        yield return new DateTime(2026, 1, 15, 10, 30, 0, DateTimeKind.Utc);
        yield return new DateTime(2026, 1, 15, 10, 30, 0, 120, DateTimeKind.Utc);
        yield return new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(9_999_999);
        yield return new DateTime(2026, 12, 31, 0, 0, 0, DateTimeKind.Local).AddTicks(1);
        yield return DateTime.MinValue;
        yield return DateTime.MaxValue;
        var random = new Random(11);
        for (var i = 0; i < 2_000; i++)
            yield return new DateTime(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc);
    }

    [Test]
    public void FormatAndParse_OfAnyDateTime_MatchMicrosoftDataSqlite()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT @value";
        var parameter = command.Parameters.Add("@value", SqliteType.Text);
        foreach (var value in Samples())
        {
            parameter.Value = value;
            using var reader = command.ExecuteReader();
            reader.Read();
            var written = reader.GetString(0);
            var read = reader.GetDateTime(0);

            Assert.That(SqliteDateTimeText.Format(value), Is.EqualTo(written), $"ticks {value.Ticks}");
            var parsed = SqliteDateTimeText.Parse(written);
            Assert.That((parsed.Ticks, parsed.Kind), Is.EqualTo((read.Ticks, read.Kind)), written);
        }
    }

    [Test]
    public void Format_OfTheSameValueAgainAndOfAlternatingValues_GivesEachValuesOwnText()
    {
        var a = new DateTime(2026, 1, 15, 10, 30, 0, 120, DateTimeKind.Utc);
        var b = a.AddTicks(1);
        var texts = new[] { a, a, b, a, b, b, a.AddTicks(-1), DateTime.SpecifyKind(a, DateTimeKind.Local) }.Select(SqliteDateTimeText.Format).ToList();

        Assert.That(texts, Is.EqualTo(new[]
        {
            "2026-01-15 10:30:00.12", "2026-01-15 10:30:00.12", "2026-01-15 10:30:00.1200001", "2026-01-15 10:30:00.12",
            "2026-01-15 10:30:00.1200001", "2026-01-15 10:30:00.1200001", "2026-01-15 10:30:00.1199999", "2026-01-15 10:30:00.12",
        }));
    }

    [TestCase("2025-11-06T10:30:00Z")]
    [TestCase("2025-11-06 10:30")]
    [TestCase("2025-11-06 10:30:00.")]
    [TestCase("2025-11-06 10:30:00.12345678")]
    [TestCase("2025-02-30 10:30:00")]
    public void Parse_OfTextInAnotherLayout_ReadsItAsDateTimeParseDoes(string text)
    {
        DateTime? expected = DateTime.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : null;
        if (expected is null)
            Assert.That(() => SqliteDateTimeText.Parse(text), Throws.InstanceOf<FormatException>());
        else
            Assert.That(SqliteDateTimeText.Parse(text), Is.EqualTo(expected.Value));
    }

    [Test]
    public void Model_OnSqlite_ConvertsEveryDateTimeColumnOfEveryModule()
    {
        ModuleDbContext[] contexts =
        [
            new OrdersDbContext(new DbContextOptionsBuilder<OrdersDbContext>().UseSqlite("Data Source=:memory:").Options),
            new InventoryDbContext(new DbContextOptionsBuilder<InventoryDbContext>().UseSqlite("Data Source=:memory:").Options),
            new PaymentDbContext(new DbContextOptionsBuilder<PaymentDbContext>().UseSqlite("Data Source=:memory:").Options),
            new NotificationDbContext(new DbContextOptionsBuilder<NotificationDbContext>().UseSqlite("Data Source=:memory:").Options),
        ];
        foreach (var db in contexts)
            using (db)
            {
                var dates = db.Model.GetEntityTypes().SelectMany(e => e.GetProperties())
                    .Where(p => Nullable.GetUnderlyingType(p.ClrType) == typeof(DateTime) || p.ClrType == typeof(DateTime)).ToList();
                Assert.That(dates, Is.Not.Empty, db.GetType().Name);
                Assert.That(dates.Where(p => p.GetValueConverter() is not SqliteDateTimeText.Converter).Select(p => $"{p.DeclaringType.DisplayName()}.{p.Name}"),
                    Is.Empty, db.GetType().Name);
            }
    }
}
