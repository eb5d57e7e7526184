using System.Globalization;

namespace Marketplace.Browser.Tests;

/// <summary>How the pages show values, for the tests to expect them.</summary>
internal static class Shown
{
    /// <summary>An amount in 元 with two decimals, as the pages show amounts under 万元.</summary>
    public static string Yuan(long fen) => $"{(fen / 100m).ToString("N2", CultureInfo.InvariantCulture)} 元";
}
