using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace OrderFlow.Persistence;

/// <summary>
/// The commands of one unit of work on its open transaction, one per SQL text. Microsoft.Data.Sqlite
/// prepares a command's statement on its first execution and keeps it while the text stays the
/// same, so a row-at-a-time INSERT or UPDATE re-executed with new parameter values is parsed once
/// per batch instead of once per row (EF Core's SQLite provider sends every row as a new command).
/// Single-row statements also keep the parameter list short: SQLite looks a named parameter up
/// by a linear scan, and binding the 800 parameters of a 100-row multi-row INSERT by name cost
/// ~10 % of all CPU in the profile of docs/benchmarks.md.
/// </summary>
internal sealed class StatementCache(ModuleDbContext db) : IDisposable
{
    private readonly Dictionary<string, DbCommand> commands = new(StringComparer.Ordinal);

    public ModuleDbContext Context => db;

    /// <summary>The command for <paramref name="sql"/> with no parameters, on the current transaction.</summary>
    public DbCommand Get(string sql)
    {
        if (!commands.TryGetValue(sql, out var command))
        {
            command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = sql;
            commands[sql] = command;
        }
        command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction()
            ?? throw new InvalidOperationException("rows are written inside a write transaction only");
        command.Parameters.Clear();
        return command;
    }

    /// <summary>A single-row INSERT into <paramref name="table"/> with parameters <c>@p0</c>, <c>@p1</c>… in column order.</summary>
    public static string InsertSql(string table, IReadOnlyList<string> columns) =>
        new StringBuilder("INSERT INTO \"").Append(table).Append("\" (")
            .AppendJoin(", ", columns.Select(c => $"\"{c}\""))
            .Append(") VALUES (")
            .AppendJoin(", ", columns.Select((_, i) => $"@p{i}"))
            .Append(')')
            .ToString();

    public void Dispose()
    {
        foreach (var command in commands.Values) command.Dispose();
        commands.Clear();
    }
}
