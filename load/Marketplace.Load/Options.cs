using System.Globalization;

namespace Marketplace.Load;

/// <summary>The tool's command line: a verb, then <c>--name value</c> pairs and flags.</summary>
public sealed class Options
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    private Options(string verb) => Verb = verb;

    public string Verb { get; }

    public static Options Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0].StartsWith('-'))
        {
            throw new ArgumentException("the first argument is the verb: demo, bench, check or backtest");
        }
        var options = new Options(args[0]);
        for (var i = 1; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{name}'");
            }
            var value = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
            if (!options._values.TryGetValue(name[2..], out var list))
            {
                options._values[name[2..]] = list = [];
            }
            list.Add(value);
        }
        return options;
    }

    public string? Text(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public string Text(string name, string fallback) => Text(name) ?? fallback;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public bool Flag(string name) => Text(name) is "true";

    public double Number(string name, double fallback, double min, double max)
    {
        if (Text(name) is not { } text)
        {
            return fallback;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new ArgumentException($"--{name} takes a number from {min} to {max}");
        }
        return value;
    }

    public int Integer(string name, int fallback, int min, int max) => (int)Number(name, fallback, min, max);

    /// <summary>Every option given that is not one of <paramref name="known"/> (a misspelt option must not be ignored).</summary>
    public IReadOnlyList<string> Unknown(params string[] known) => _values.Keys.Where(k => !known.Contains(k, StringComparer.Ordinal)).ToList();
}
