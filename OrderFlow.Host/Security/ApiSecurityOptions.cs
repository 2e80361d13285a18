using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace OrderFlow.Host.Security;

/// <summary>
/// Protection of the HTTP API (<c>OrderFlow:Api</c>). Every endpoint needs a key in
/// <c>X-Api-Key</c> except the public allow-list (health and metrics, each switchable). When no
/// key is configured, <see cref="AllowAnonymous"/> must say so explicitly. See docs/security.md.
/// </summary>
public sealed class ApiSecurityOptions
{
    public const string Section = "OrderFlow:Api";
    public const string HeaderName = "X-Api-Key";
    public const int MinKeyLength = 16;

    /// <summary>
    /// Accepted keys (<c>OrderFlow__Api__Keys__0</c>, <c>__1</c>… in the environment, or
    /// <c>appsettings.secrets.json</c>); never in appsettings.json. Two keys at once let a client
    /// move to a new key before the old one is removed. Any key configured switches keys on.
    /// </summary>
    public List<string?> Keys { get; set; } = [];

    /// <summary>For local use only: with no key configured, the API answers everyone (a warning says so at start-up).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>Whether <c>/health/*</c> and <c>/metrics</c> need a key too (default: no, probes and scrapers send none).</summary>
    public RequireKeyForOptions RequireKeyFor { get; set; } = new();

    /// <summary>Largest request body accepted (Kestrel's limit); larger bodies get 413.</summary>
    [Range(1_024, 10 * 1024 * 1024)] public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    public ApiRateLimitOptions RateLimit { get; set; } = new();

    /// <summary>The configured keys, blanks left out (a <c>null</c> entry in a configuration layer removes a key).</summary>
    public IReadOnlyList<string> ConfiguredKeys => Keys.Where(k => k is not null).Select(k => k!).ToList();

    public bool KeysRequired => ConfiguredKeys.Count > 0;
}

public sealed class RequireKeyForOptions
{
    public bool Health { get; set; }
    public bool Metrics { get; set; }
}

/// <summary>
/// A token bucket per API key (per client address when anonymous or unauthenticated): up to
/// <see cref="Burst"/> requests at once, refilled by <see cref="PermitsPerSecond"/> every second.
/// </summary>
public sealed class ApiRateLimitOptions
{
    public bool Enabled { get; set; } = true;
    [Range(1, 1_000_000)] public int PermitsPerSecond { get; set; } = 100;
    [Range(1, 1_000_000)] public int Burst { get; set; } = 200;
}

/// <summary>Refuses to start with keys that are too weak to be secrets, or with no key and no explicit opt-out.</summary>
internal sealed class ApiSecurityOptionsValidator : IValidateOptions<ApiSecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, ApiSecurityOptions options)
    {
        var failures = new List<string>();
        // Named by position, never by value: the message ends up in logs.
        for (var i = 0; i < options.Keys.Count; i++)
        {
            var key = options.Keys[i];
            if (key is null) continue;
            if (key.Length < ApiSecurityOptions.MinKeyLength || key.Any(char.IsWhiteSpace) || key.Any(char.IsControl))
                failures.Add($"{ApiSecurityOptions.Section}:Keys:{i} must be at least {ApiSecurityOptions.MinKeyLength} characters without spaces (for example `openssl rand -hex 32`)");
        }
        if (!options.KeysRequired && !options.AllowAnonymous)
            failures.Add($"No API key is configured and {ApiSecurityOptions.Section}:AllowAnonymous is false: set OrderFlow__Api__Keys__0 " +
                "(or appsettings.secrets.json), or set OrderFlow:Api:AllowAnonymous=true for local use. See docs/security.md.");
        if (options.RateLimit.Burst < 1 || options.RateLimit.PermitsPerSecond < 1)
            failures.Add($"{ApiSecurityOptions.Section}:RateLimit:PermitsPerSecond and :Burst must be at least 1");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
