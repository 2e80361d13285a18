using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace OrderFlow.Payment;

public enum GatewayDecision { Approved, Declined }

public sealed record GatewayResult(GatewayDecision Decision, string? Reason);

/// <summary>The gateway failed in a way worth retrying (timeout, 503…).</summary>
public sealed class TransientGatewayException(string message) : Exception(message);

/// <summary>
/// The simulated payment gateway. Declines are a pure function of the order and the seed, so a
/// retried or replayed charge gets the same answer; transient errors come from a seeded sequence.
/// </summary>
public sealed class PaymentGateway(IOptions<PaymentOptions> options, TimeProvider clock)
{
    private readonly Lock gate = new();
    private readonly Random transient = new(options.Value.Seed);

    public async Task<GatewayResult> ChargeAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (settings.LatencyMs > 0) await Task.Delay(TimeSpan.FromMilliseconds(settings.LatencyMs), clock, cancellationToken);
        if (settings.TransientErrorRate > 0)
        {
            double draw;
            lock (gate) draw = transient.NextDouble();
            if (draw < settings.TransientErrorRate) throw new TransientGatewayException("gateway timeout (simulated)");
        }
        if (amount > settings.DeclineAbove) return new GatewayResult(GatewayDecision.Declined, "amount_above_limit");
        if (settings.FailureRate > 0 && Uniform(settings.Seed, orderId) < settings.FailureRate)
            return new GatewayResult(GatewayDecision.Declined, "card_declined");
        return new GatewayResult(GatewayDecision.Approved, null);
    }

    /// <summary>A number in [0, 1) fixed by the seed and the order id.</summary>
    internal static double Uniform(int seed, string orderId)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}:{orderId}"));
        return (BinaryPrimitives.ReadUInt64BigEndian(digest) >> 11) * (1.0 / (1UL << 53));
    }
}
