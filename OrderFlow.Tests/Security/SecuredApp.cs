using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OrderFlow.Host.Security;

namespace OrderFlow.Tests.Security;

/// <summary>
/// A bare web app with only the API protection of the host (no broker, no modules) and whatever
/// endpoints a test maps: for the policy's own rules, such as endpoints that do not exist yet.
/// </summary>
public sealed class SecuredApp : IAsyncDisposable
{
    private readonly WebApplication app;

    private SecuredApp(WebApplication app)
    {
        this.app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public HttpClient Http { get; }

    public static WebApplication Build(IDictionary<string, string?> settings, ILoggerProvider? logs = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Urls"] = "http://127.0.0.1:0", ["Logging:LogLevel:Default"] = "Warning" });
        builder.Configuration.AddInMemoryCollection(settings);
        if (logs is not null) builder.Logging.AddProvider(logs);
        builder.Services.AddProblemDetails();
        builder.AddApiSecurity();
        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseApiSecurity();
        return app;
    }

    public static async Task<SecuredApp> StartAsync(IDictionary<string, string?> settings, Action<WebApplication> map, ILoggerProvider? logs = null)
    {
        var app = Build(settings, logs);
        map(app);
        await app.StartAsync();
        return new SecuredApp(app);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
