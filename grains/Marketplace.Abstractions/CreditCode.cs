namespace Marketplace;

/// <summary>
/// The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters from a 31-character alphabet
/// (digits and capitals without I, O, S, V, Z); the last is a check character over the first 17.
/// </summary>
public static class CreditCode
{
    private const string Alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    private static readonly int[] Weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

    public static bool IsValid(string? code) => Validate(code) is null;

    /// <summary>Null when the code is valid, otherwise why it is not.</summary>
    public static string? Validate(string? code)
    {
        if (string.IsNullOrEmpty(code))
        {
            return "is required";
        }
        if (code.Length != 18)
        {
            return "must be 18 characters";
        }
        var sum = 0;
        for (var i = 0; i < 17; i++)
        {
            var value = Alphabet.IndexOf(code[i], StringComparison.Ordinal);
            if (value < 0)
            {
                return $"character {i + 1} ('{code[i]}') is not allowed";
            }
            sum += value * Weights[i];
        }
        if (Alphabet.IndexOf(code[17], StringComparison.Ordinal) < 0)
        {
            return $"character 18 ('{code[17]}') is not allowed";
        }
        var expected = CheckCharacter(sum);
        return code[17] == expected ? null : $"check character should be '{expected}'";
    }

    /// <summary>Completes 17 characters with their check character (used to make valid codes in demos and tests).</summary>
    public static string Complete(string first17)
    {
        if (first17.Length != 17)
        {
            throw new ArgumentException("need exactly 17 characters", nameof(first17));
        }
        var sum = 0;
        for (var i = 0; i < 17; i++)
        {
            var value = Alphabet.IndexOf(first17[i], StringComparison.Ordinal);
            if (value < 0)
            {
                throw new ArgumentException($"character {i + 1} is not allowed", nameof(first17));
            }
            sum += value * Weights[i];
        }
        return first17 + CheckCharacter(sum);
    }

    private static char CheckCharacter(int weightedSum)
    {
        var check = 31 - weightedSum % 31;
        return Alphabet[check == 31 ? 0 : check];
    }
}
