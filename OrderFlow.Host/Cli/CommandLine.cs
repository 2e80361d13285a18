using System.CommandLine;
using OrderFlow.Host.Broker;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Cli;

/// <summary>The verbs of SPEC §6. Tokens a verb does not know (such as --OrderFlow:Database:Path=x) are configuration overrides.</summary>
internal static class CommandLine
{
    private static readonly string[] Verbs = ["generate", "verify", "dlq", "broker", "bench", "--help", "-h", "-?"];

    public static bool IsVerb(string arg) => Verbs.Contains(arg, StringComparer.OrdinalIgnoreCase);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("OrderFlow: event-driven order processing. Without a verb, runs the host.");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(DlqCommand.Create());
        root.Subcommands.Add(CreateBroker());
        root.Subcommands.Add(BenchCommand.Create());
        // System.CommandLine's own handler prints every exception with its stack trace; a setting
        // that stops a verb from starting gets one line instead (StartupFailure), the rest what it
        // printed: "Unhandled exception: " and the exception, exit code 1 (silent for cancellation).
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return await StartupFailure.ReportAsync(() => root.Parse(args).InvokeAsync(invocation), Console.Error);
        }
        catch (OperationCanceledException)
        {
            return 1;
        }
        catch (Exception ex)
        {
            await Console.Error.WriteLineAsync($"Unhandled exception: {ex}");
            return 1;
        }
    }

    /// <summary>Unmatched tokens of a verb are passed to the configuration, like the host's own arguments.</summary>
    public static string[] ConfigArgs(ParseResult result) => result.UnmatchedTokens.ToArray();

    private static Command CreateBroker()
    {
        var command = new Command("broker", "Run only the embedded Kafka broker, for set-ups with several OrderFlow processes.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var configuration = OrderFlowApp.LoadConfiguration(ConfigArgs(result));
            var kafka = KafkaOptions.Read(configuration);
            await using var broker = EmbeddedBroker.Start(kafka.EmbeddedPort, kafka.Partitions, kafka.Layout.All, kafka.EmbeddedRelayAllConnections);
            Console.WriteLine($"{broker.Describe()}. Ctrl+C stops it.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
            return 0;
        });
        return command;
    }
}
