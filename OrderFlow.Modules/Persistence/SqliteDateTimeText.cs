using System.Globalization;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace OrderFlow.Persistence;

/// <summary>
/// SQLite stores a <see cref="DateTime"/> as text, <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c>: Microsoft.Data.Sqlite
/// formats it with a custom format string and reads it back with <see cref="DateTime.Parse(string, IFormatProvider)"/>,
/// together ~3 % of the flow's CPU (docs/benchmarks.md). This converter writes the same text and
/// reads it with a fixed-layout parser; text in any other layout (written by another tool) still
/// goes through <see cref="DateTime.Parse(string, IFormatProvider)"/>. SQLite only
/// (<see cref="ModuleDbContext"/> applies it when the provider is SQLite): on a server database a
/// date is a date column.
/// </summary>
public static class SqliteDateTimeText
{
    public sealed class Converter() : ValueConverter<DateTime, string>(value => Format(value), text => Parse(text));

    // The last value formatted on this thread, and its text: a batch stamps its inbox rows, outbox
    // rows and updated rows with one clock reading, so most calls format the previous value again.
    [ThreadStatic] private static long lastTicks;
    [ThreadStatic] private static string? lastText;

    /// <summary>The text Microsoft.Data.Sqlite writes for <paramref name="value"/>: trailing zeros of the fraction, and a dot with nothing after it, left out.</summary>
    public static string Format(DateTime value)
    {
        if (lastText is not null && lastTicks == value.Ticks) return lastText;
        var text = FormatNew(value);
        lastTicks = value.Ticks;
        lastText = text;
        return text;
    }

    private static string FormatNew(DateTime value)
    {
        Span<char> buffer = stackalloc char[27];
        Write4(buffer, value.Year);
        buffer[4] = '-';
        Write2(buffer[5..], value.Month);
        buffer[7] = '-';
        Write2(buffer[8..], value.Day);
        buffer[10] = ' ';
        Write2(buffer[11..], value.Hour);
        buffer[13] = ':';
        Write2(buffer[14..], value.Minute);
        buffer[16] = ':';
        Write2(buffer[17..], value.Second);
        var fraction = (int)(value.Ticks % TimeSpan.TicksPerSecond);
        if (fraction == 0) return new string(buffer[..19]);
        buffer[19] = '.';
        var length = 27;
        for (var i = 26; i >= 20; i--)
        {
            buffer[i] = (char)('0' + fraction % 10);
            fraction /= 10;
        }
        while (buffer[length - 1] == '0') length--;
        return new string(buffer[..length]);
    }

    /// <summary>Reads what <see cref="Format"/> wrote, with <see cref="DateTimeKind.Unspecified"/> as Microsoft.Data.Sqlite does.</summary>
    public static DateTime Parse(string text)
    {
        if (TryParseLayout(text, out var value)) return value;
        return DateTime.Parse(text, CultureInfo.InvariantCulture);
    }

    private static bool TryParseLayout(string text, out DateTime value)
    {
        value = default;
        if (text.Length < 19 || text.Length == 20 || text.Length > 27) return false;
        if (text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' || text[16] != ':') return false;
        if (!Digits(text, 0, 4, out var year) || !Digits(text, 5, 2, out var month) || !Digits(text, 8, 2, out var day)
            || !Digits(text, 11, 2, out var hour) || !Digits(text, 14, 2, out var minute) || !Digits(text, 17, 2, out var second))
            return false;
        var fraction = 0;
        if (text.Length > 19)
        {
            if (text[19] != '.' || !Digits(text, 20, text.Length - 20, out fraction)) return false;
            for (var i = text.Length; i < 27; i++) fraction *= 10;
        }
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        value = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).AddTicks(fraction);
        return true;
    }

    private static bool Digits(string text, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var digit = text[i] - '0';
            if ((uint)digit > 9) return false;
            value = value * 10 + digit;
        }
        return true;
    }

    private static void Write4(Span<char> span, int value)
    {
        span[0] = (char)('0' + value / 1000);
        span[1] = (char)('0' + value / 100 % 10);
        span[2] = (char)('0' + value / 10 % 10);
        span[3] = (char)('0' + value % 10);
    }

    private static void Write2(Span<char> span, int value)
    {
        span[0] = (char)('0' + value / 10);
        span[1] = (char)('0' + value % 10);
    }
}
