using System.Text.RegularExpressions;
using Microsoft.Playwright;
using OrderFlow.Tests.Support;

namespace OrderFlow.Tests.Observability;

/// <summary>
/// The dashboard at <c>/</c>: one self-contained page that updates itself. The browser test uses
/// Debian's Chromium through Playwright (no browser download); without it the test is skipped.
/// </summary>
[TestFixture]
public sealed partial class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Test]
    public async Task Dashboard_WhenServed_IsOneSelfContainedPageThatPollsAtLeastEveryTwoSeconds()
    {
        await using var host = await TestHost.StartAsync();

        var response = await host.Http.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/html"));
        Assert.That(ExternalReference().Matches(html).Select(m => m.Value), Is.Empty, "no CDN, no external script, style or font");
        Assert.That(html, Does.Contain("/dashboard/data"));
        Assert.That(int.Parse(PollInterval().Match(html).Groups[1].Value), Is.LessThanOrEqualTo(2000));
    }

    [Test]
    public async Task Dashboard_WhenOrdersFlow_ShowsItsNumbersChangingInABrowser()
    {
        if (!File.Exists(Chromium)) Assert.Ignore($"{Chromium} is missing: install Debian's chromium package (apt-get install -y chromium) to run the browser test.");
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?> { ["OrderFlow:Messaging:LagIntervalMs"] = "200" });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1440, Height = 1100 } });
        await page.GotoAsync(host.Http.BaseAddress!.ToString());
        // Keys are on in test hosts: the page asks for one before it shows data.
        await page.WaitForSelectorAsync("#key-form:not([hidden])");
        await page.FillAsync("#api-key", TestHost.ApiKey);
        await page.ClickAsync("#api-key-save");
        await page.WaitForFunctionAsync("() => document.getElementById('status').textContent.startsWith('updated')");
        var finishedBefore = await page.TextContentAsync("#orders-finished");
        var completedBefore = await page.TextContentAsync("#state-Completed");

        var ids = new List<string>();
        for (var i = 0; i < 12; i++) ids.Add(await host.PlaceOrderAsync($"USER-{i}", ("PROD-001", 1 + i % 3, 10m)));
        foreach (var id in ids) await host.WaitForStatusAsync(id, "Completed");
        await page.WaitForFunctionAsync("n => document.getElementById('orders-finished').textContent === String(n)", ids.Count,
            new PageWaitForFunctionOptions { Timeout = 10_000 });
        var throughput = await page.TextContentAsync("#throughput");
        var p95 = await page.TextContentAsync("#latency-p95");
        var p99 = await page.TextContentAsync("#latency-p99");
        var completed = await page.TextContentAsync("#state-Completed");
        var lag = await page.TextContentAsync("#lag-total");
        var alerts = await page.Locator("#alerts tr").CountAsync();
        var screenshot = Path.Combine(TestContext.CurrentContext.WorkDirectory, "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        TestContext.AddTestAttachment(screenshot, "The dashboard after 12 orders");

        await page.Locator("a.timeline-link").First.ClickAsync();
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#timeline tr').length >= 8");
        var kinds = await page.Locator("#timeline td.kind").AllTextContentsAsync();
        var timelineShot = Path.Combine(TestContext.CurrentContext.WorkDirectory, "dashboard-timeline.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = timelineShot, FullPage = true });
        TestContext.AddTestAttachment(timelineShot, "An order's timeline opened from the dashboard");

        Assert.That(finishedBefore, Is.EqualTo("0"));
        Assert.That(completedBefore, Is.EqualTo("Completed 0"));
        Assert.That(completed, Is.EqualTo($"Completed {ids.Count}"));
        Assert.That(throughput, Is.Not.EqualTo("0.0").And.Not.EqualTo("–"), "orders finished in the last 10 s");
        Assert.That(p95, Does.EndWith("ms").Or.EndWith(" s"));
        Assert.That(p99, Does.EndWith("ms").Or.EndWith(" s"));
        Assert.That(lag, Is.Not.EqualTo("–"), "lag is measured");
        Assert.That(alerts, Is.EqualTo(3), "one row per alert rule");
        Assert.That(kinds, Has.Member("transition").And.Member("applied"));
    }

    [GeneratedRegex(@"(src|href)\s*=\s*[""']?(https?:)?//", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();

    [GeneratedRegex(@"POLL_MS\s*=\s*(\d+)")]
    private static partial Regex PollInterval();
}
