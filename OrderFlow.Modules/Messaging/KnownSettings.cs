using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace OrderFlow.Messaging;

/// <summary>
/// Settings that name nothing fail the start: the configuration binder ignores a key it has no
/// property for, so a misspelt setting (<c>OrderFlow__Modules__Payment__Enable=false</c>) would
/// silently keep its default. Only a section's own keys are checked, not those of nested objects
/// or dictionaries.
/// </summary>
public static class KnownSettings
{
    /// <summary><c>Bind(section)</c>, then a start-up check that every key of <paramref name="section"/> names a property of <typeparamref name="T"/>.</summary>
    public static OptionsBuilder<T> BindKnown<T>(this OptionsBuilder<T> builder, IConfigurationSection section) where T : class
    {
        builder.Bind(section);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<T>>(new Validator<T>(builder.Name, section)));
        return builder.ValidateOnStart();
    }

    /// <summary>What is wrong when <paramref name="section"/> has keys other than <paramref name="known"/> (case-insensitive), or null.</summary>
    public static string? Problem(IConfigurationSection section, IEnumerable<string> known)
    {
        var names = known.Order(StringComparer.Ordinal).ToList();
        var unknown = section.GetChildren().Where(c => !names.Contains(c.Key, StringComparer.OrdinalIgnoreCase)).Select(c => c.Path).Order(StringComparer.Ordinal).ToList();
        return unknown.Count == 0 ? null
            : $"{string.Join(", ", unknown)} {(unknown.Count == 1 ? "is not a setting" : "are not settings")}; {section.Path} has {string.Join(", ", names)}";
    }

    /// <summary>The properties the binder sets (OrderFlow's options classes have no get-only ones to bind into).</summary>
    private static IEnumerable<string> Settable(Type options) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true }).Select(p => p.Name);

    private sealed class Validator<T>(string? name, IConfigurationSection section) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? optionsName, T options) =>
            name is not null && optionsName != name ? ValidateOptionsResult.Skip
            : Problem(section, Settable(typeof(T))) is { } problem ? ValidateOptionsResult.Fail(problem)
            : ValidateOptionsResult.Success;
    }
}
