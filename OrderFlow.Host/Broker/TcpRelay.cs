using System.Net;
using System.Net.Sockets;

namespace OrderFlow.Host.Broker;

/// <summary>
/// Forwards a fixed loopback port to the mock cluster's ephemeral one, so other processes and
/// third-party clients find the broker at a known address: they bootstrap here. Only when the
/// broker advertises this port too (rd_kafka_mock_broker_set_host_port, which changes nothing but
/// the advertised address) do their other connections come through here as well.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener listener;
    private readonly IPEndPoint target;
    private readonly CancellationTokenSource stop = new();
    private readonly Task acceptLoop;

    private TcpRelay(TcpListener listener, IPEndPoint target)
    {
        this.listener = listener;
        this.target = target;
        acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>Binds the port; throws <see cref="SocketException"/> (AddressAlreadyInUse) when it is taken.</summary>
    public static TcpRelay Start(int port, IPEndPoint target)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        // Plain SO_REUSEADDR lets a restarted broker bind while old connections sit in TIME_WAIT
        // and still refuses a port another socket listens on. Set raw: .NET's ReuseAddress option
        // also sets SO_REUSEPORT on Linux, which would let a second broker share the port.
        if (OperatingSystem.IsLinux()) listener.Server.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        listener.Start(512);
        return new TcpRelay(listener, target);
    }

    private async Task AcceptLoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stop.Token);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(Socket client)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await upstream.ConnectAsync(target, stop.Token);
            await using var a = new NetworkStream(client, ownsSocket: true);
            await using var b = new NetworkStream(upstream, ownsSocket: false);
            var up = CopyAsync(a, b);
            var down = CopyAsync(b, a);
            await Task.WhenAny(up, down);
        }
        catch (Exception)
        {
            // A connection ended or the broker went down: the client reconnects.
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task CopyAsync(Stream from, Stream to)
    {
        try
        {
            await from.CopyToAsync(to, 256 * 1024, stop.Token);
        }
        catch (Exception)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        try { await acceptLoop; } catch (Exception) { }
        stop.Dispose();
    }
}
