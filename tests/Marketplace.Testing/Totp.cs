using System.Globalization;
using System.Security.Cryptography;

namespace Marketplace.Testing;

/// <summary>
/// Time-based one-time passwords as an authenticator app computes them (RFC 6238: HMAC-SHA1 over 30-second steps since the
/// Unix epoch, 6 digits), from the base32 key the marketplace shows. Written out here so that the tests do not check the
/// marketplace with its own code.
/// </summary>
public static class Totp
{
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    /// <summary>The step a moment falls in.</summary>
    public static long StepOf(DateTimeOffset at) => at.ToUnixTimeSeconds() / (long)Step.TotalSeconds;

    /// <summary>The code of one step.</summary>
    public static string Code(string base32Key, long step)
    {
        Span<byte> counter = stackalloc byte[8];
        for (var i = 7; i >= 0; i--, step >>= 8)
        {
            counter[i] = (byte)(step & 0xff);
        }
        var hash = HMACSHA1.HashData(Base32(base32Key), counter);
        var offset = hash[^1] & 0x0f;
        var binary = (hash[offset] & 0x7f) << 24 | hash[offset + 1] << 16 | hash[offset + 2] << 8 | hash[offset + 3];
        return (binary % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    }

    /// <summary>The code an authenticator app shows now.</summary>
    public static string Now(string base32Key) => Code(base32Key, StepOf(DateTimeOffset.UtcNow));

    /// <summary>
    /// A code that is valid at no step near now (the marketplace, as Identity, accepts the steps up to two either side):
    /// a wrong code that cannot be right by chance.
    /// </summary>
    public static string Wrong(string base32Key)
    {
        var now = StepOf(DateTimeOffset.UtcNow);
        var near = Enumerable.Range(-4, 9).Select(d => Code(base32Key, now + d)).ToHashSet();
        var code = 123456;
        while (near.Contains(code.ToString("D6", CultureInfo.InvariantCulture)))
        {
            code = (code + 1) % 1_000_000;
        }
        return code.ToString("D6", CultureInfo.InvariantCulture);
    }

    /// <summary>RFC 4648 base32 (A–Z, 2–7), ignoring spaces, padding and case, as the key is shown in groups.</summary>
    public static byte[] Base32(string text)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in text.ToUpperInvariant())
        {
            if (c is ' ' or '=' or '-')
            {
                continue;
            }
            var value = alphabet.IndexOf(c, StringComparison.Ordinal);
            if (value < 0)
            {
                throw new FormatException($"'{c}' is not a base32 character");
            }
            buffer = buffer << 5 | value;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                bytes.Add((byte)(buffer >> bits & 0xff));
            }
        }
        return [.. bytes];
    }
}
