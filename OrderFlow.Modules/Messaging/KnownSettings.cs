using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace OrderFlow.Messaging;

/// <summary>
/// Settings that name nothing fail the start: the configuration binder ignores a key it has no
/// property for, so a misspelt setting (<c>OrderFlow__Modules__Payment__Enable=false</c>) would
/// silently keep its default. The keys of nested objects (<c>OrderFlow:Api:RateLimit</c>) and of a
/// dictionary's object values (each alert rule) are checked too; a dictionary's own keys
/// (<c>Kafka:Properties</c>, the catalogue, the rules' names) are data.
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

    /// <summary>A start-up check that reports every problem <paramref name="problems"/> finds (<see cref="OptionsBuilder{TOptions}.Validate(Func{TOptions, bool}, string)"/> has one fixed message).</summary>
    public static OptionsBuilder<T> Check<T>(this OptionsBuilder<T> builder, Func<T, IEnumerable<string>> problems) where T : class
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new Checks<T>(builder.Name, problems));
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

    /// <summary>The problems of <paramref name="section"/> bound to <paramref name="options"/>, and of its nested objects' sections.</summary>
    public static IEnumerable<string> Problems(IConfigurationSection section, Type options)
    {
        var properties = Settable(options).ToList();
        if (Problem(section, properties.Select(p => p.Name)) is { } problem) yield return problem;
        foreach (var nested in properties.Where(p => IsObject(p.PropertyType)))
            foreach (var inner in Problems(section.GetSection(nested.Name), nested.PropertyType))
                yield return inner;
        // A dictionary's keys are data, but a dictionary of objects (the alert rules) has settings in each value.
        foreach (var map in properties.Where(p => p.PropertyType.IsGenericType && p.PropertyType.GetGenericTypeDefinition() == typeof(Dictionary<,>)
            && IsObject(p.PropertyType.GetGenericArguments()[1])))
            foreach (var entry in section.GetSection(map.Name).GetChildren())
                foreach (var inner in Problems(entry, map.PropertyType.GetGenericArguments()[1]))
                    yield return inner;
    }

    private static bool IsObject(Type type) => type.IsClass && type != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(type);

    /// <summary>The properties the binder sets (OrderFlow's options classes have no get-only ones to bind into).</summary>
    private static IEnumerable<PropertyInfo> Settable(Type options) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true });

    /// <summary>The unknown-keys check: a type of its own, so that binding a section twice (every module binds the store's) registers it once.</summary>
    private sealed class Validator<T>(string? name, IConfigurationSection section) : Checks<T>(name, _ => Problems(section, typeof(T))) where T : class;

    private class Checks<T>(string? name, Func<T, IEnumerable<string>> problems) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? optionsName, T options) =>
            name is not null && optionsName != name ? ValidateOptionsResult.Skip
            : problems(options).ToList() is { Count: > 0 } found ? ValidateOptionsResult.Fail(found)
            : ValidateOptionsResult.Success;
    }
}
