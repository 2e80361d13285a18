using System.Reflection;
using Microsoft.Extensions.Options;

namespace OrderFlow.Host;

/// <summary>
/// A process that cannot start because of a setting says so in one line on stderr and exits with
/// <see cref="ExitCode"/>, like the verbs do when there is nothing they can run. Other failures
/// keep their stack trace: they are bugs or an environment this code did not expect.
/// </summary>
public static class StartupFailure
{
    /// <summary>The exit code of "nothing ran" (also a missing database for <c>verify</c>, a busy <c>--out</c> for <c>bench</c>).</summary>
    public const int ExitCode = 2;

    /// <summary>How the one line starts (a parent process, such as <c>bench</c>'s, recognises its child's by it).</summary>
    public const string LinePrefix = "OrderFlow cannot start: ";

    /// <summary>
    /// The setting's problem, when <paramref name="error"/> is one: options that failed their
    /// validation (<see cref="OptionsValidationException"/>, also what OrderFlow's own start-up
    /// checks throw: unknown keys, the broker's topics, a cluster that does not answer), a value the
    /// configuration binder could not convert (an <see cref="InvalidOperationException"/>, recognised
    /// by the start of its English message: a localised runtime would print the stack trace), or a setting that meets
    /// something on this machine it cannot use: an HTTP address in use, a file that is no database.
    /// Null otherwise.
    /// </summary>
    public static string? ConfigurationProblem(Exception error) => error switch
    {
        // Distinct: a check registered by each module that uses the options (the store's) reports once.
        OptionsValidationException invalid when string.Join("; ", invalid.Failures.Distinct()) is var message =>
            Section(invalid.OptionsType) is { } section && !message.Contains(section + ":", StringComparison.Ordinal) ? $"settings {section}: {message}" : message,
        // Kestrel binds after the settings were checked: an address another process serves is
        // this host's Urls setting meeting its machine, and says how to choose another.
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } inUse =>
            $"{inUse.Message.TrimEnd('.')}: another process serves it; give this one a free address with Urls (--Urls=http://localhost:5081)",
        // SQLITE_NOTADB, SQLITE_CANTOPEN, SQLITE_READONLY: the file the setting names is not one the store can use.
        Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 26 or 14 or 8 } store =>
            $"the database file (OrderFlow:Database:Path) cannot be used: {store.Message}",
        InvalidOperationException unconvertible when unconvertible.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
            unconvertible.Message,
        AggregateException all when all.InnerExceptions.Count > 0 && all.InnerExceptions.Select(ConfigurationProblem).ToList() is var problems
            && problems.All(p => p is not null) => string.Join(Environment.NewLine, problems.Distinct()),
        _ => null,
    };

    /// <summary>Runs <paramref name="start"/>; a configuration problem becomes one line on <paramref name="error"/> and <see cref="ExitCode"/>.</summary>
    public static async Task<int> ReportAsync(Func<Task<int>> start, TextWriter error)
    {
        try
        {
            return await start();
        }
        catch (Exception ex) when (ConfigurationProblem(ex) is { } problem)
        {
            await error.WriteLineAsync(LinePrefix + problem);
            return ExitCode;
        }
    }

    /// <summary>An options class's configuration section, when it names it in a <c>Section</c> constant.</summary>
    private static string? Section(Type? options) =>
        options?.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string;
}
