using Microsoft.Extensions.Options;

namespace OrderFlow.Host.Observability;

internal enum AlertState { Ok, Pending, Firing }

/// <summary>One rule as last evaluated: what <c>GET /alerts</c> lists.</summary>
internal sealed record AlertStatus(
    string Name, string Signal, string? Description, string Comparison, double Threshold, string Unit, double? Value, string? Detail,
    AlertState State, DateTime? Since, TimeSpan Window, TimeSpan For, DateTime EvaluatedAt);

/// <summary>
/// Evaluates every enabled rule each <see cref="AlertOptions.EvaluationInterval"/>. A rule whose
/// signal is above its threshold is pending, then firing once it has stayed there for its
/// <see cref="AlertRuleOptions.For"/>; it is logged once when it starts firing and once when it
/// resolves. Firing rules turn <c>/health/ready</c> degraded (<see cref="AlertsHealthCheck"/>).
/// </summary>
internal sealed partial class AlertEvaluator(IOptions<AlertOptions> options, Signals signals, TimeProvider clock, ILogger<AlertEvaluator> logger)
    : BackgroundService
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, (AlertState State, DateTime Since, DateTime? AboveSince)> states = new(StringComparer.OrdinalIgnoreCase);
    private IReadOnlyList<AlertStatus>? current;

    /// <summary>The rules as last evaluated (evaluated now if they never were).</summary>
    public IReadOnlyList<AlertStatus> Current => current ?? Evaluate();

    public IReadOnlyList<AlertStatus> Firing => Current.Where(a => a.State == AlertState.Firing).ToList();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, clock);
        try
        {
            do
            {
                try
                {
                    Evaluate();
                }
                catch (Exception ex)
                {
                    LogEvaluationFailed(ex);
                }
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Evaluates every rule once, logs what started or stopped firing, and returns the result.</summary>
    public IReadOnlyList<AlertStatus> Evaluate()
    {
        lock (gate)
        {
            var settings = options.Value;
            var now = clock.GetUtcNow().UtcDateTime;
            var result = new List<AlertStatus>();
            foreach (var (name, rule) in settings.Rules.Where(r => r.Value.Enabled).OrderBy(r => r.Key, StringComparer.Ordinal))
            {
                var window = rule.Window ?? settings.Window;
                var measured = signals.Measure(rule.Signal, window);
                var above = measured.Value is { } value && value > rule.Threshold;
                var (previous, since, aboveSince) = states.GetValueOrDefault(name, (AlertState.Ok, now, null));
                aboveSince = above ? aboveSince ?? now : null;
                var next = !above ? AlertState.Ok : now - aboveSince >= rule.For ? AlertState.Firing : AlertState.Pending;
                if (next != previous) since = now;
                if (next == AlertState.Firing && previous != AlertState.Firing)
                    LogFiring(name, rule.Signal, measured.Value ?? 0, rule.Threshold, measured.Detail ?? "");
                else if (previous == AlertState.Firing && next != AlertState.Firing)
                    LogResolved(name, rule.Signal, measured.Value, rule.Threshold, (now - states[name].Since).TotalSeconds);
                states[name] = (next, since, aboveSince);
                result.Add(new AlertStatus(name, rule.Signal, rule.Description, ">", rule.Threshold, measured.Unit, measured.Value, measured.Detail,
                    next, since, window, rule.For, now));
            }
            current = result;
            return result;
        }
    }

    [LoggerMessage(LogLevel.Warning, "Alert {Alert} is firing: {Signal} is {Value:0.###} (threshold {Threshold}) {Detail}")]
    private partial void LogFiring(string alert, string signal, double value, double threshold, string detail);

    [LoggerMessage(LogLevel.Information, "Alert {Alert} resolved: {Signal} is {Value:0.###} (threshold {Threshold}) after firing for {Seconds:0} s")]
    private partial void LogResolved(string alert, string signal, double? value, double threshold, double seconds);

    [LoggerMessage(LogLevel.Error, "Alert evaluation failed")]
    private partial void LogEvaluationFailed(Exception ex);
}
