using System.Diagnostics;

namespace OrderFlow.Tests.Support;

/// <summary>Polls a condition until it holds or the timeout passes, then fails saying what was expected.</summary>
public static class Eventually
{
    public static async Task Until(Func<Task<bool>> condition, string expectation, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < limit)
        {
            try
            {
                if (await condition()) return;
                last = null;
            }
            catch (Exception ex)
            {
                last = ex;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"Expected within {limit.TotalSeconds:0.#} s: {expectation}" + (last is null ? "" : $" (last error: {last.Message})"));
    }

    public static Task Until(Func<bool> condition, string expectation, TimeSpan? timeout = null) =>
        Until(() => Task.FromResult(condition()), expectation, timeout);

    /// <summary>Polls <paramref name="probe"/> until its value satisfies <paramref name="accept"/>; returns that value.</summary>
    public static async Task<T> Value<T>(Func<Task<T>> probe, Func<T, bool> accept, string expectation, TimeSpan? timeout = null)
    {
        T value = default!;
        await Until(async () => accept(value = await probe()), expectation, timeout);
        return value;
    }
}
