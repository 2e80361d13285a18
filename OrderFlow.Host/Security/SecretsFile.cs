using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace OrderFlow.Host.Security;

/// <summary>
/// <c>appsettings.secrets.json</c> in the working directory: the place for API keys and Kafka
/// passwords on a machine where environment variables are awkward. Optional, git-ignored, and
/// ranked above appsettings.json but below the environment and the command line.
/// </summary>
public static class SecretsFile
{
    public const string FileName = "appsettings.secrets.json";

    public static IConfigurationBuilder AddSecretsFile(this IConfigurationBuilder configuration, string? directory = null)
    {
        var source = new JsonConfigurationSource { Path = Path.Combine(directory ?? Directory.GetCurrentDirectory(), FileName), Optional = true, ReloadOnChange = false };
        source.ResolveFileProvider();
        // The host's own environment source has no prefix (the DOTNET_/ASPNETCORE_ ones come
        // before appsettings.json); the secrets file goes right before it.
        var sources = configuration.Sources;
        var environment = -1;
        for (var i = 0; i < sources.Count; i++)
            if (sources[i] is EnvironmentVariablesConfigurationSource { Prefix: null or "" }) environment = i;
        if (environment < 0) sources.Add(source);
        else sources.Insert(environment, source);
        return configuration;
    }
}
