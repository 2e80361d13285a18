using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using OrderFlow.Messaging;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Messaging;

public sealed class KnownSettingsTests
{
    private static MessagingOptions Messaging(IConfiguration configuration)
    {
        using var services = new ServiceCollection().AddOptions<MessagingOptions>().BindKnown(configuration.GetSection(MessagingOptions.Section)).Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<MessagingOptions>>().Value;
    }

    [Test]
    public void AMisspeltKey_FailsNamingItsPathAndTheSectionsSettings()
    {
        var configuration = Settings.Of(("OrderFlow:Messaging:MaxBatchSise", "10"));

        var error = Assert.Throws<OptionsValidationException>(() => Messaging(configuration))!;

        Assert.That(error.Message, Does.StartWith("OrderFlow:Messaging:MaxBatchSise is not a setting; OrderFlow:Messaging has ")
            .And.Contain("MaxBatchSize"));
    }

    [Test]
    public void KnownKeys_InAnyCase_AreBoundAsBefore()
    {
        var configuration = Settings.Of(("OrderFlow:Messaging:maxbatchsize", "10"), ("OrderFlow:Messaging:Workers", "2"));

        var options = Messaging(configuration);

        Assert.That((options.MaxBatchSize, options.Workers), Is.EqualTo((10, 2)));
    }

    [Test]
    public void Problem_ListsEveryUnknownKeyAndNoKnownOne()
    {
        var configuration = Settings.Of(("OrderFlow:Modules:Payments:Enabled", "false"), ("OrderFlow:Modules:Orderz:Enabled", "false"), ("OrderFlow:Modules:Orders:Enabled", "false"));

        var problem = KnownSettings.Problem(configuration.GetSection("OrderFlow:Modules"), ["Orders", "Inventory", "Payment", "Notification"]);

        Assert.That(problem, Is.EqualTo("OrderFlow:Modules:Orderz, OrderFlow:Modules:Payments are not settings; OrderFlow:Modules has Inventory, Notification, Orders, Payment"));
        Assert.That(KnownSettings.Problem(configuration.GetSection("OrderFlow:Modules:Orders"), ["Enabled"]), Is.Null);
    }

    [Test]
    public void Problems_CheckNestedObjects_AndLeaveDictionariesAlone()
    {
        var configuration = Settings.Of(("OrderFlow:Api:RateLimit:Enabld", "false"), ("OrderFlow:Api:AllowAnonymous", "true"),
            ("Kafka:Properties:sasl.username", "me"), ("Kafka:Partitions", "3"));

        var api = KnownSettings.Problems(configuration.GetSection("OrderFlow:Api"), typeof(OrderFlow.Host.Security.ApiSecurityOptions)).ToList();
        var kafka = KnownSettings.Problems(configuration.GetSection(KafkaOptions.Section), typeof(KafkaOptions)).ToList();

        Assert.That(api, Has.Count.EqualTo(1));
        Assert.That(api[0], Does.StartWith("OrderFlow:Api:RateLimit:Enabld is not a setting; OrderFlow:Api:RateLimit has ").And.Contain("Enabled"));
        Assert.That(kafka, Is.Empty);
    }

    [Test]
    public void Problems_CheckEachObjectOfADictionary_NotItsKeys()
    {
        var configuration = Settings.Of(("OrderFlow:Alerts:Rules:MyRule:Signal", "consumer_lag"), ("OrderFlow:Alerts:Rules:MyRule:Treshold", "5"));

        var problems = KnownSettings.Problems(configuration.GetSection("OrderFlow:Alerts"), typeof(OrderFlow.Host.Observability.AlertOptions)).ToList();

        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith("OrderFlow:Alerts:Rules:MyRule:Treshold is not a setting; OrderFlow:Alerts:Rules:MyRule has ").And.Contain("Threshold"));
    }
}
