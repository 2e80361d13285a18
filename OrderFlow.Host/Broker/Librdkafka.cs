using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace OrderFlow.Host.Broker;

/// <summary>
/// P/Invoke into librdkafka's mock cluster (rdkafka_mock.h). The calls must reach the very file
/// Confluent.Kafka loaded: on Debian 12 the default librdkafka.so needs libsasl2.so.3 and fails, so
/// Confluent.Kafka falls back to centos8-librdkafka.so. We let Confluent.Kafka load first, then
/// resolve "librdkafka" to the path /proc/self/maps shows it loaded.
/// </summary>
internal static partial class Librdkafka
{
    private const string Lib = "librdkafka";

    static Librdkafka()
    {
        NativeLibrary.SetDllImportResolver(typeof(Librdkafka).Assembly, Resolve);
    }

    public static void EnsureLoaded() => _ = Confluent.Kafka.Library.Version;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Lib) return IntPtr.Zero;
        EnsureLoaded();
        foreach (var candidate in Candidates())
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        throw new DllNotFoundException("librdkafka could not be resolved to the file Confluent.Kafka loaded");
    }

    private static IEnumerable<string> Candidates()
    {
        if (File.Exists("/proc/self/maps"))
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash >= 0 && line.Contains("librdkafka", StringComparison.Ordinal)) yield return line[slash..].Trim();
            }
        }
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier.StartsWith("linux-arm") ? "linux-arm64" : "linux-x64", "native");
        yield return Path.Combine(native, "librdkafka.so");
        yield return Path.Combine(native, "centos8-librdkafka.so");
        // A publish for one runtime identifier (the ReadyToRun publish) puts the native files beside the assemblies.
        yield return Path.Combine(AppContext.BaseDirectory, "librdkafka.so");
        yield return Path.Combine(AppContext.BaseDirectory, "centos8-librdkafka.so");
        yield return Path.Combine(AppContext.BaseDirectory, "librdkafka.dll");
        yield return Path.Combine(AppContext.BaseDirectory, "runtimes", "osx-arm64", "native", "librdkafka.dylib");
    }

    public const int RdKafkaProducer = 0;

    [LibraryImport(Lib)] public static partial IntPtr rd_kafka_conf_new();

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_conf_set(IntPtr conf, string name, string value, byte[] errstr, nuint errstrSize);

    [LibraryImport(Lib)] public static partial IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, nuint errstrSize);
    [LibraryImport(Lib)] public static partial void rd_kafka_destroy(IntPtr rk);
    [LibraryImport(Lib)] public static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);
    [LibraryImport(Lib)] public static partial void rd_kafka_mock_cluster_destroy(IntPtr mcluster);
    [LibraryImport(Lib)] public static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mcluster);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_topic_create(IntPtr mcluster, string topic, int partitions, int replicationFactor);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_broker_set_host_port(IntPtr mcluster, int brokerId, string host, int port);

    [LibraryImport(Lib)] public static partial int rd_kafka_mock_broker_set_down(IntPtr mcluster, int brokerId);
    [LibraryImport(Lib)] public static partial int rd_kafka_mock_broker_set_up(IntPtr mcluster, int brokerId);
    [LibraryImport(Lib)] public static partial int rd_kafka_mock_broker_set_rtt(IntPtr mcluster, int brokerId, int rttMs);
    [LibraryImport(Lib)] public static partial void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mcluster, int delayMs);

    [LibraryImport(Lib)]
    public static partial void rd_kafka_mock_push_request_errors_array(IntPtr mcluster, short apiKey, nuint count, int[] errors);

    [LibraryImport(Lib)] public static partial void rd_kafka_mock_clear_request_errors(IntPtr mcluster, short apiKey);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_partition_delete_records(IntPtr mcluster, string topic, int partition, long beforeOffset);

    public static string Error(byte[] errstr)
    {
        var end = Array.IndexOf(errstr, (byte)0);
        return Encoding.UTF8.GetString(errstr, 0, end < 0 ? errstr.Length : end);
    }
}
