using OrderFlow.Host;
using OrderFlow.Host.Cli;

// No verb: run the host. A verb (generate, verify, dlq, broker): run that command; any
// configuration overrides (--OrderFlow:...=...) after it still reach the configuration.
if (args.Length > 0 && CommandLine.IsVerb(args[0])) return await CommandLine.RunAsync(args);

return await StartupFailure.ReportAsync(async () =>
{
    await using var app = await OrderFlowApp.BuildWebAsync(args);
    await app.RunAsync();
    return 0;
}, Console.Error);
