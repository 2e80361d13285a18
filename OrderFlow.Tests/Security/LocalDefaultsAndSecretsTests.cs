using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using OrderFlow.Host.Security;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Security;

/// <summary>Where keys come from (environment, secrets file, never the repository) and what a newcomer's first run does.</summary>
[TestFixture]
public sealed class LocalDefaultsAndSecretsTests
{
    [Test]
    public async Task Host_WhenRunWithTheCommittedAppsettings_AcceptsTheReadmeCurlWithoutAKeyAndWarns()
    {
        var directory = Path.Combine(Path.GetTempPath(), "orderflow-tests", Guid.NewGuid().ToString("N"));
        var port = HostProcess.FreePort();
        await using var process = HostProcess.Start(
            [$"--Urls=http://127.0.0.1:{port}", $"--Kafka:EmbeddedPort={HostProcess.FreePort()}", $"--OrderFlow:Database:Path={Path.Combine(directory, "orderflow.db")}"],
            new Dictionary<string, string>());
        try
        {
            await process.WaitForLineAsync("API authentication is OFF");
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await Eventually.Until(async () => (await http.GetAsync("/health/live")).IsSuccessStatusCode, "the host to answer");

            // The README's example, as a newcomer types it: no key.
            var response = await http.PostAsync("/orders", new StringContent(
                """{"user_id":"USER-001","items":[{"product_id":"PROD-001","quantity":2,"price":99.99}]}""", Encoding.UTF8, "application/json"));

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }
        finally
        {
            await process.StopAsync();
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    [Test]
    public void Appsettings_AsCommitted_HoldsNoKeyAndNoKafkaSecret()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(RepoPaths.Root, "appsettings.json")).Build();

        Assert.That(configuration.GetSection("OrderFlow:Api:Keys").GetChildren(), Is.Empty);
        Assert.That(configuration.GetSection("Kafka:Properties").GetChildren().Select(c => c.Key),
            Has.None.Contains("password").And.None.Contains("secret").And.None.Contains("key.pem"));
    }

    [Test]
    public void GitIgnore_ListsTheSecretsFile()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, ".gitignore")).Select(l => l.Trim());

        Assert.That(lines, Does.Contain(SecretsFile.FileName));
    }

    [Test]
    public void SecretsFile_WhenPresent_RanksAboveAppsettingsAndBelowTheEnvironment()
    {
        var directory = Directory.CreateTempSubdirectory("orderflow-secrets").FullName;
        File.WriteAllText(Path.Combine(directory, SecretsFile.FileName), """
            { "OrderFlow": { "Api": { "Keys": [ "key-from-the-secrets-file-01" ], "AllowAnonymous": false } },
              "Kafka": { "Properties": { "sasl.password": "password-from-the-file" } } }
            """);
        const string variable = "Kafka__Properties__sasl.password";
        Environment.SetEnvironmentVariable(variable, "password-from-the-environment");
        try
        {
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
            builder.Configuration.AddSecretsFile(directory);

            Assert.That(builder.Configuration["OrderFlow:Api:Keys:0"], Is.EqualTo("key-from-the-secrets-file-01"));
            Assert.That(builder.Configuration["OrderFlow:Api:AllowAnonymous"], Is.EqualTo("False").IgnoreCase, "the file overrides appsettings.json");
            Assert.That(builder.Configuration["Kafka:Properties:sasl.password"], Is.EqualTo("password-from-the-environment"), "the environment overrides the file");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            Directory.Delete(directory, recursive: true);
        }
    }
}
