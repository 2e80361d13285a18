using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OrderFlow.Messaging;

namespace OrderFlow.Host.Health;

/// <summary>
/// Ready when the broker answers a metadata request. A broker outage raises no exception in the
/// clients (confluent-kafka-dotnet #982, #2137), so readiness asks the broker itself.
/// </summary>
internal sealed class BrokerHealthCheck(KafkaClientFactory clients) : IHealthCheck, IDisposable
{
    private readonly Lazy<IAdminClient> admin = new(() => new AdminClientBuilder(clients.AdminConfig()).SetLogHandler((_, _) => { }).Build());

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.Run(() =>
        {
            try
            {
                var metadata = admin.Value.GetMetadata(TimeSpan.FromSeconds(2));
                return metadata.Brokers.Count > 0
                    ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s) at {clients.Options.BootstrapServers}")
                    : HealthCheckResult.Unhealthy($"no broker answers at {clients.Options.BootstrapServers}");
            }
            catch (KafkaException ex)
            {
                return HealthCheckResult.Unhealthy($"broker at {clients.Options.BootstrapServers} is not reachable: {ex.Error.Reason}");
            }
        }, cancellationToken);

    public void Dispose()
    {
        if (admin.IsValueCreated) admin.Value.Dispose();
    }
}
