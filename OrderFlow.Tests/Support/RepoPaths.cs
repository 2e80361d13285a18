namespace OrderFlow.Tests.Support;

public static class RepoPaths
{
    /// <summary>The repository root: the nearest folder above the test binaries holding OrderFlow.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OrderFlow.sln"))) return dir.FullName;
        throw new InvalidOperationException("OrderFlow.sln not found above " + AppContext.BaseDirectory);
    }
}
