using OrderFlow.Host;
using OrderFlow.Host.Cli;

// No verb: run the host. A verb (generate, verify, dlq, broker): run that command; any
// configuration overrides (--OrderFlow:...=...) after it still reach the configuration.
if (args.Length > 0 && CommandLine.IsVerb(args[0])) return await CommandLine.RunAsync(args);

return await StartupFailure.ReportAsync(async () =>
{
    await using var app = await OrderFlowApp.BuildWebAsync(args);
    try
    {
        await app.StartAsync();
    }
    catch
    {
        // Kestrel starts last: when it cannot bind, the consumers and relays already run. Stop
        // them before the container is disposed under them.
        await app.StopAsync();
        throw;
    }
    await app.WaitForShutdownAsync();
    return 0;
}, Console.Error);
