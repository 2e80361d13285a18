using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Security;

/// <summary>
/// The HTTP API's protection, in pipeline order: body size (413), API key (identifies the
/// caller), rate limit per key or client address (429), then the key policy (401). The host
/// calls <see cref="AddApiSecurity"/> and <see cref="UseApiSecurity"/> once each.
/// </summary>
public static partial class ApiSecurity
{
    public static WebApplicationBuilder AddApiSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ApiSecurityOptions>().BindKnown(builder.Configuration.GetSection(ApiSecurityOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ApiSecurityOptions>, ApiSecurityOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ApiSecurityOptions>>((kestrel, api) =>
            kestrel.Limits.MaxRequestBodySize = api.Value.MaxRequestBodyBytes);

        services.AddSingleton<ApiKeyRing>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddSingleton<IAuthorizationHandler, ApiKeyRequirementHandler>();
        services.AddAuthorization(options =>
        {
            // The fallback policy covers every endpoint that says nothing, so an endpoint added
            // later is protected without anyone remembering to ask for it.
            var policy = new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new ApiKeyRequirement()).Build();
            options.DefaultPolicy = policy;
            options.FallbackPolicy = policy;
        });

        services.AddRateLimiter(options =>
        {
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(PartitionOf);
            options.OnRejected = RejectAsync;
        });
        services.Configure<OpenApiOptions>("v1", options => options.AddDocumentTransformer(DescribeApiKey));
        services.AddHostedService<ApiSecurityAnnouncement>();
        return builder;
    }

    /// <summary>Call after the exception handler and before the endpoints are mapped.</summary>
    public static WebApplication UseApiSecurity(this WebApplication app)
    {
        app.Use(RequestLimitsAsync);
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();
        return app;
    }

    private static RateLimitPartition<string> PartitionOf(HttpContext http)
    {
        var limits = http.RequestServices.GetRequiredService<IOptions<ApiSecurityOptions>>().Value.RateLimit;
        if (!limits.Enabled) return RateLimitPartition.GetNoLimiter("off");
        // A valid key is its own bucket; everything else (anonymous, no key, a wrong key) shares
        // its address's bucket, so guessing keys is limited as well.
        var partition = http.User.Identity is { IsAuthenticated: true, Name: { } key } ? "key:" + key : "ip:" + ClientAddress.PartitionOf(http);
        return RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.Burst,
            TokensPerPeriod = limits.PermitsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests",
                Detail = $"The rate limit of this client was reached; retry after {seconds} s.",
            },
        });
    }

    /// <summary>
    /// 413 before reading a body that says it is too large; and the same answer, instead of a
    /// 500, when Kestrel stops a chunked body at the limit while the endpoint reads it.
    /// </summary>
    private static async Task RequestLimitsAsync(HttpContext http, RequestDelegate next)
    {
        var limit = http.RequestServices.GetRequiredService<IOptions<ApiSecurityOptions>>().Value.MaxRequestBodyBytes;
        if (http.Request.ContentLength > limit)
        {
            await TooLargeAsync(http, limit);
            return;
        }
        try
        {
            await next(http);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (!http.Response.HasStarted)
        {
            if (ex.StatusCode == StatusCodes.Status413PayloadTooLarge) await TooLargeAsync(http, limit);
            else await ProblemAsync(http, ex.StatusCode, "The request could not be read", null);
        }
    }

    private static Task TooLargeAsync(HttpContext http, long limit) =>
        ProblemAsync(http, StatusCodes.Status413PayloadTooLarge, "The request body is too large",
            $"The body may hold at most {limit} bytes ({ApiSecurityOptions.Section}:MaxRequestBodyBytes).");

    private static async Task ProblemAsync(HttpContext http, int status, string title, string? detail)
    {
        http.Response.Clear();
        http.Response.StatusCode = status;
        // The unread rest of the body is not drained: the connection closes after this answer.
        if (status == StatusCodes.Status413PayloadTooLarge) http.Response.Headers.Connection = "close";
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>The OpenAPI document says how to authenticate, so generated clients send the header.</summary>
    private static Task DescribeApiKey(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        if (!context.ApplicationServices.GetRequiredService<IOptions<ApiSecurityOptions>>().Value.KeysRequired) return Task.CompletedTask;
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKeyAuthenticationHandler.SchemeName] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiSecurityOptions.HeaderName,
            Description = "One of the keys configured under OrderFlow:Api:Keys.",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, document)] = [] }];
        return Task.CompletedTask;
    }
}

/// <summary>Says at start-up, once, how the API is protected; loudly when it is not.</summary>
internal sealed partial class ApiSecurityAnnouncement(IOptions<ApiSecurityOptions> options, IConfiguration configuration, ILogger<ApiSecurityAnnouncement> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var api = options.Value;
        var open = string.Join(" and ", new[] { api.RequireKeyFor.Health ? null : "/health/*", api.RequireKeyFor.Metrics ? null : "/metrics" }.OfType<string>());
        if (!api.KeysRequired)
            LogAnonymous(configuration["Urls"] ?? "the HTTP port");
        else
            LogKeys(api.ConfiguredKeys.Count, ApiSecurityOptions.HeaderName, open.Length == 0 ? "none" : open, api.AllowAnonymous ? " OrderFlow:Api:AllowAnonymous is ignored while keys are configured." : "");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Warning, "API authentication is OFF (OrderFlow:Api:AllowAnonymous=true and no key configured): anyone who can reach {Urls} " +
        "can place and cancel orders. Fine on your own machine; anywhere else set OrderFlow__Api__Keys__0 (docs/security.md).")]
    private partial void LogAnonymous(string urls);

    [LoggerMessage(LogLevel.Information, "API keys required: {Count} key(s) accepted in {Header}; public without a key: {Public}.{Note}")]
    private partial void LogKeys(int count, string header, string @public, string note);
}
