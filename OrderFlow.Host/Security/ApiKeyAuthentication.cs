using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace OrderFlow.Host.Security;

/// <summary>
/// The configured keys, kept as SHA-256 digests. A presented key is hashed and compared with
/// every digest in constant time, so neither the position of the first wrong character nor
/// the key's length shows in the response time.
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly byte[][] digests;

    public ApiKeyRing(IOptions<ApiSecurityOptions> options) =>
        digests = options.Value.ConfiguredKeys.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();

    /// <summary>The name of the matching key (<c>key-0</c>, <c>key-1</c>… by position), or null.</summary>
    public string? Match(string presented)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        string? match = null;
        for (var i = 0; i < digests.Length; i++)
            if (CryptographicOperations.FixedTimeEquals(digest, digests[i])) match ??= $"key-{i}";
        return match;
    }
}

/// <summary>
/// Authenticates <c>X-Api-Key</c>. It never logs a key, and it never fails loudly here: this runs
/// before the rate limiter, so a flood of wrong keys must not become a flood of log lines. The
/// refusal (401 problem details, logged once) happens in the challenge, after the limiter.
/// </summary>
internal sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggers, UrlEncoder encoder, ApiKeyRing keys,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggers, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string RejectedKeyItem = "orderflow.api-key-rejected";

    private readonly ILogger refusals = loggers.CreateLogger("OrderFlow.Security");

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var values = Request.Headers[ApiSecurityOptions.HeaderName];
        if (values.Count == 0) return Task.FromResult(AuthenticateResult.NoResult());

        var name = values.Count == 1 && !string.IsNullOrEmpty(values[0]) ? keys.Match(values[0]!) : null;
        if (name is null)
        {
            Context.Items[RejectedKeyItem] = true;
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var rejected = Context.Items.ContainsKey(RejectedKeyItem);
        LogRefused(refusals, Request.Method, Messaging.LogMask.OneLine(Request.Path.Value ?? ""), rejected ? "wrong API key" : "no API key", ClientAddress.Masked(Context));
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = $"{SchemeName} header=\"{ApiSecurityOptions.HeaderName}\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = rejected ? "The API key is not valid" : "An API key is required",
                Detail = rejected
                    ? $"The key sent in {ApiSecurityOptions.HeaderName} is not one of the configured keys."
                    : $"Send a key in the {ApiSecurityOptions.HeaderName} header.",
            },
        });
    }

    [LoggerMessage(LogLevel.Information, "Refused {Method} {Path}: {Reason} (client {Client})")]
    private static partial void LogRefused(ILogger logger, string method, string path, string reason, string client);
}

/// <summary>The one policy of the API: a valid key, unless keys are off or the endpoint is on the public allow-list.</summary>
internal sealed class ApiKeyRequirement : IAuthorizationRequirement;

internal sealed class ApiKeyRequirementHandler(IOptions<ApiSecurityOptions> options) : AuthorizationHandler<ApiKeyRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiKeyRequirement requirement)
    {
        if (!options.Value.KeysRequired
            || context.User.Identity is { IsAuthenticated: true, AuthenticationType: ApiKeyAuthenticationHandler.SchemeName }
            || (context.Resource is HttpContext http && PublicEndpoints.Allows(http, options.Value)))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The explicit allow-list. It is matched on the route the request resolved to, not on the raw
/// path, so no spelling of a URL can reach another endpoint through it. Everything not listed
/// here needs a key, including endpoints added later.
/// </summary>
public static class PublicEndpoints
{
    public static bool Allows(HttpContext http, ApiSecurityOptions options)
    {
        var route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
        if (route is null) return false;
        if (!options.RequireKeyFor.Health && route.StartsWith("/health/", StringComparison.Ordinal)) return true;
        if (!options.RequireKeyFor.Metrics && route == "/metrics") return true;
        return false;
    }
}

/// <summary>The client's address, for rate-limit partitions and (masked) for logs.</summary>
internal static class ClientAddress
{
    /// <summary>IPv4 as is; IPv6 by its /64 prefix, which one subscriber usually holds whole.</summary>
    public static string PartitionOf(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is null) return "unknown";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return address.ToString();
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }

    /// <summary>An IP address is personal data: logs get the network (/24, /48), not the host.</summary>
    public static string Masked(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is null) return "unknown";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        var keep = bytes.Length == 4 ? 3 : 6;
        Array.Clear(bytes, keep, bytes.Length - keep);
        return $"{new System.Net.IPAddress(bytes)}/{keep * 8}";
    }
}
