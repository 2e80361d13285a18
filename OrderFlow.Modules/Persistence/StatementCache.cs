using System.Buffers;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using SQLitePCL;

namespace OrderFlow.Persistence;

/// <summary>
/// The commands of one unit of work on its open transaction, one per SQL text. Microsoft.Data.Sqlite
/// prepares a command's statement on its first execution and keeps it while the text stays the
/// same, so a row-at-a-time INSERT or UPDATE re-executed with new parameter values is parsed once
/// per batch instead of once per row (EF Core's SQLite provider sends every row as a new command).
/// Single-row statements also keep the parameter list short: SQLite looks a named parameter up
/// by a linear scan, and binding the 800 parameters of a 100-row multi-row INSERT by name cost
/// ~10 % of all CPU in the profile of docs/benchmarks.md.
/// <para>
/// The writers' rows go through <see cref="Execute"/>: SQLite's own statement, bound by position.
/// Microsoft.Data.Sqlite binds every parameter by name on every execution (SQLite finds a name
/// by a linear scan of the statement's names) and allocates a binder per parameter per execution;
/// together ~4 % of all CPU at full speed (docs/benchmarks.md).
/// </para>
/// </summary>
internal sealed class StatementCache(ModuleDbContext db) : IDisposable
{
    private readonly Dictionary<string, DbCommand> commands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, sqlite3_stmt> statements = new(StringComparer.Ordinal);
    private sqlite3? handle;

    public ModuleDbContext Context => db;

    /// <summary>
    /// Runs <paramref name="use"/> with a cache of its own on the context's connection, opened for
    /// it and closed after (EF Core leaves a connection open that was open already): for the
    /// prepared reads outside a transaction.
    /// </summary>
    public static async Task<T> OnOpenConnectionAsync<T>(ModuleDbContext db, Func<StatementCache, T> use, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            using var statements = new StatementCache(db);
            return use(statements);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

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

    /// <summary>
    /// Executes <paramref name="sql"/> (prepared once per unit of work) with <paramref name="values"/>
    /// bound to its parameters by position, on the open write transaction; returns the rows changed.
    /// The values are provider values, as a value converter gives them: text, integers, reals,
    /// decimals (text, as Microsoft.Data.Sqlite writes them), byte arrays, enums (their number) or null.
    /// </summary>
    public int Execute(string sql, object?[] values)
    {
        if (db.Database.CurrentTransaction is null) throw new InvalidOperationException("rows are written inside a write transaction only");
        var statement = Bound(sql, values);
        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE) Check(rc);
        return raw.sqlite3_changes(handle);
    }

    /// <summary>The rowid of the last row <see cref="Execute"/> inserted on this connection (SQLite's <c>last_insert_rowid()</c>).</summary>
    public long LastInsertRowId => raw.sqlite3_last_insert_rowid(handle ?? throw new InvalidOperationException("nothing was executed yet"));

    /// <summary>
    /// Whether the query <paramref name="sql"/> returns a row for <paramref name="values"/>, bound by
    /// position as <see cref="Execute"/> binds them. Needs the context's connection open, not a
    /// transaction: the consumers look up their inbox before the write turn.
    /// </summary>
    public bool Exists(string sql, object?[] values)
    {
        var statement = Bound(sql, values);
        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc is not (raw.SQLITE_ROW or raw.SQLITE_DONE)) Check(rc);
        return rc == raw.SQLITE_ROW;
    }

    /// <summary>
    /// The rows of the query <paramref name="sql"/> for <paramref name="values"/>, each read by
    /// <paramref name="read"/> from the current row (<see cref="Blob"/>, which also gives a text column's UTF-8 bytes; <c>raw.sqlite3_column_int64</c>).
    /// Needs the context's connection open, not a transaction.
    /// </summary>
    public List<T> Query<T>(string sql, object?[] values, Func<sqlite3_stmt, T> read)
    {
        var statement = Bound(sql, values);
        var rows = new List<T>();
        try
        {
            int rc;
            while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW) rows.Add(read(statement));
            if (rc != raw.SQLITE_DONE) Check(rc);
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
        return rows;
    }

    /// <summary>A blob column of the current row (empty for an empty blob), or a text column's UTF-8 bytes, or null.</summary>
    public static byte[]? Blob(sqlite3_stmt statement, int column) =>
        raw.sqlite3_column_type(statement, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_blob(statement, column).ToArray();

    /// <summary>The statement for <paramref name="sql"/>, prepared once per unit of work, reset, with <paramref name="values"/> bound.</summary>
    private sqlite3_stmt Bound(string sql, object?[] values)
    {
        handle ??= ((SqliteConnection)db.Database.GetDbConnection()).Handle ?? throw new InvalidOperationException("the connection is not open");
        if (!statements.TryGetValue(sql, out var statement))
        {
            Check(raw.sqlite3_prepare_v2(handle, sql, out statement));
            statements[sql] = statement;
        }
        if (raw.sqlite3_bind_parameter_count(statement) != values.Length)
            throw new InvalidOperationException($"{values.Length} values for {raw.sqlite3_bind_parameter_count(statement)} parameters: {sql}");
        for (var i = 0; i < values.Length; i++) Check(Bind(statement, i + 1, values[i]));
        return statement;
    }

    private static int Bind(sqlite3_stmt statement, int index, object? value) => value switch
    {
        null or DBNull => raw.sqlite3_bind_null(statement, index),
        string text => BindText(statement, index, text),
        long number => raw.sqlite3_bind_int64(statement, index, number),
        int number => raw.sqlite3_bind_int64(statement, index, number),
        short number => raw.sqlite3_bind_int64(statement, index, number),
        byte number => raw.sqlite3_bind_int64(statement, index, number),
        bool flag => raw.sqlite3_bind_int64(statement, index, flag ? 1 : 0),
        double real when !double.IsNaN(real) => raw.sqlite3_bind_double(statement, index, real),
        float real when !float.IsNaN(real) => raw.sqlite3_bind_double(statement, index, real),
        decimal number => BindText(statement, index, number.ToString("0.0###########################", CultureInfo.InvariantCulture)),
        byte[] bytes => raw.sqlite3_bind_blob(statement, index, bytes),
        Enum member => raw.sqlite3_bind_int64(statement, index, Convert.ToInt64(member, CultureInfo.InvariantCulture)),
        double or float => throw new InvalidOperationException("SQLite cannot store NaN"),
        _ => throw new NotSupportedException($"cannot bind a {value.GetType().Name} by position; give it a value converter"),
    };

    /// <summary>Whether <see cref="Execute"/> binds values of <paramref name="type"/> (or null).</summary>
    public static bool CanBind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsEnum || type == typeof(string) || type == typeof(long) || type == typeof(int) || type == typeof(short)
            || type == typeof(byte) || type == typeof(bool) || type == typeof(double) || type == typeof(float)
            || type == typeof(decimal) || type == typeof(byte[]);
    }

    /// <summary>As UTF-8 from a pooled buffer: SQLite copies it (SQLITE_TRANSIENT).</summary>
    private static int BindText(sqlite3_stmt statement, int index, string text)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            return raw.sqlite3_bind_text(statement, index, buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, handle);
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
        foreach (var statement in statements.Values) statement.Dispose();
        statements.Clear();
    }
}
