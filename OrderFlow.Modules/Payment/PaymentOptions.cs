using System.ComponentModel.DataAnnotations;

namespace OrderFlow.Payment;

/// <summary>Payment module settings (<c>OrderFlow:Modules:Payment</c>), including the simulated gateway's behaviour.</summary>
public sealed class PaymentOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Time the gateway takes per charge. It is spent inside the module's transaction, so keep it small.</summary>
    [Range(0, 60_000)] public int LatencyMs { get; set; }

    /// <summary>Charges above this amount are declined (<c>amount_above_limit</c>).</summary>
    [Range(typeof(decimal), "0", "79228162514264337593543950335")] public decimal DeclineAbove { get; set; } = 10_000m;

    /// <summary>Share of charges declined at random (<c>card_declined</c>), decided per order from <see cref="Seed"/>.</summary>
    [Range(0.0, 1.0)] public double FailureRate { get; set; }

    /// <summary>Share of gateway calls that fail transiently and are retried by the consumer loop.</summary>
    [Range(0.0, 1.0)] public double TransientErrorRate { get; set; }

    /// <summary>Seed of both random rates, so a run can be repeated.</summary>
    public int Seed { get; set; } = 42;
}
