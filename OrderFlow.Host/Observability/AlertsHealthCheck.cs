using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace OrderFlow.Host.Observability;

/// <summary>Degraded while any alert fires: the host still serves, but an operator should look.</summary>
internal sealed class AlertsHealthCheck(AlertEvaluator alerts) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var all = alerts.Current;
        var firing = all.Where(a => a.State == AlertState.Firing).ToList();
        return Task.FromResult(firing.Count == 0
            ? HealthCheckResult.Healthy($"{all.Count} alert rule(s), none firing")
            : HealthCheckResult.Degraded("firing: " + string.Join(", ", firing.Select(a => $"{a.Name} ({a.Signal} {a.Value:0.###} > {a.Threshold})"))));
    }
}
