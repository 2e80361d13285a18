namespace OrderFlow.Host.Observability;

/// <summary>Alert rules and how they are evaluated (<c>OrderFlow:Alerts</c>).</summary>
public sealed class AlertOptions
{
    public const string Section = "OrderFlow:Alerts";

    /// <summary>Rates and latency percentiles are computed over this much of the recent past, unless a rule names its own.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often every rule is evaluated.</summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The rules by name. These defaults (from the original design) stay unless configuration
    /// changes them; a rule is switched off with <c>Enabled: false</c>.
    /// </summary>
    public Dictionary<string, AlertRuleOptions> Rules { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ConsumerLag"] = new() { Signal = Signals.ConsumerLag, Threshold = 1000, Description = "A consumer group is more than 1000 messages behind" },
        ["FailureRate"] = new() { Signal = Signals.OrderFailureRate, Threshold = 0.01, Description = "More than 1 % of orders fail" },
        ["ProcessingLatency"] = new() { Signal = Signals.OrderLatencyP95, Threshold = 5, Description = "Orders take more than 5 s from creation to outcome (p95)" },
    };
}

/// <summary>One alert rule: it fires while <see cref="Signal"/> is above <see cref="Threshold"/> for at least <see cref="For"/>.</summary>
public sealed class AlertRuleOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>What is measured; one of <see cref="Signals.All"/>.</summary>
    public string Signal { get; set; } = "";

    /// <summary>The rule fires when the signal is strictly above this (ratios are 0–1, latencies seconds).</summary>
    public double Threshold { get; set; }

    /// <summary>Overrides <see cref="AlertOptions.Window"/> for this rule.</summary>
    public TimeSpan? Window { get; set; }

    /// <summary>How long the signal must stay above the threshold before the rule fires (zero: at once).</summary>
    public TimeSpan For { get; set; } = TimeSpan.Zero;

    public string? Description { get; set; }
}
