using System.Security.Cryptography;
using System.Text;
using OrderFlow.Contracts;

namespace OrderFlow.Messaging;

/// <summary>
/// What personal or hostile data becomes before it is logged. Use it for every log value that
/// carries a user id or an address (docs/security.md lists the rule and the test that checks it).
/// </summary>
public static class LogMask
{
    // Random per process: a pseudonym links the log lines of one user within a process, but
    // cannot be turned back into the id, not even by hashing a list of guessed ids.
    private static readonly byte[] PseudonymKey = RandomNumberGenerator.GetBytes(32);

    /// <summary><c>USER-001</c> → <c>user#3fa9c01b2e</c>: the same id gives the same pseudonym in this process.</summary>
    public static string UserId(string? userId) =>
        userId is null ? "user#none" : "user#" + Convert.ToHexStringLower(HMACSHA256.HashData(PseudonymKey, Encoding.UTF8.GetBytes(userId)), 0, 5);

    /// <summary>An address keeps only a well-formed country code: <c>*** (DE)</c>.</summary>
    public static string Address(ShippingAddress? address) =>
        address is null ? "(none)"
        : address.Country is { Length: 2 or 3 } country && country.All(char.IsAsciiLetter) ? $"*** ({country.ToUpperInvariant()})"
        : "***";

    /// <summary>Text from outside (a path, an unknown event type) on one line: control characters become '?', so no one can forge a log line.</summary>
    public static string OneLine(string text) =>
        !text.Any(char.IsControl) ? text : string.Create(text.Length, text, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++) span[i] = char.IsControl(source[i]) ? '?' : source[i];
        });
}
