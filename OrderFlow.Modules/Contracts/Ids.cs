using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OrderFlow.Contracts;

/// <summary>
/// Version 7 GUIDs (RFC 9562: a 48-bit Unix millisecond timestamp, then random bits), laid out as
/// <see cref="Guid.CreateVersion7()"/> lays them out. The random bits come from a per-thread buffer
/// of cryptographically secure bytes refilled 4 KiB at a time: <see cref="Guid.CreateVersion7()"/>
/// asks the kernel for 16 bytes per id (one <c>getrandom</c> call each), and with an event id per
/// event, an order id, a payment id, a reservation id and a notification id per order that was
/// 1.5 % of all CPU at full speed (docs/benchmarks.md).
/// </summary>
public static class Ids
{
    private const int RandomBytes = 10;

    [ThreadStatic] private static byte[]? pool;
    [ThreadStatic] private static int used;

    public static Guid NewVersion7() => NewVersion7(DateTimeOffset.UtcNow);

    public static Guid NewVersion7(DateTimeOffset timestamp)
    {
        var random = pool ??= new byte[4096];
        if (used == 0 || used + RandomBytes > random.Length)
        {
            RandomNumberGenerator.Fill(random);
            used = 0;
        }
        var r = random.AsSpan(used, RandomBytes);
        used += RandomBytes;

        Span<byte> bytes = stackalloc byte[16];
        var milliseconds = timestamp.ToUnixTimeMilliseconds();
        BinaryPrimitives.WriteInt64BigEndian(bytes[..8], milliseconds << 16);   // the 48 low bits, big-endian, in bytes 0–5
        bytes[6] = (byte)(0x70 | (r[0] & 0x0F));                               // version 7
        bytes[7] = r[1];
        bytes[8] = (byte)(0x80 | (r[2] & 0x3F));                               // variant 10xx
        r[3..].CopyTo(bytes[9..]);
        return new Guid(bytes, bigEndian: true);
    }
}
