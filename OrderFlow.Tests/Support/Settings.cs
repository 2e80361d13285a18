using Microsoft.Extensions.Configuration;

namespace OrderFlow.Tests.Support;

/// <summary>A configuration of just the given "Key" / "Value" pairs.</summary>
public static class Settings
{
    public static IConfiguration Of(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();
}
