namespace Marketplace.Grains;

/// <summary>GPUs in use per hour slot, kept in memory and rebuilt from the holds when a pool activates.</summary>
public sealed class HourlyCapacityCalendar
{
    private readonly Dictionary<long, int> _used = [];

    public int UsedAt(long hour) => _used.GetValueOrDefault(hour);

    public void Add(long startHour, long endHour, int gpus)
    {
        for (var h = startHour; h < endHour; h++)
        {
            _used[h] = _used.GetValueOrDefault(h) + gpus;
        }
    }

    public void Remove(long startHour, long endHour, int gpus)
    {
        for (var h = startHour; h < endHour; h++)
        {
            var left = _used.GetValueOrDefault(h) - gpus;
            if (left <= 0)
            {
                _used.Remove(h);
            }
            else
            {
                _used[h] = left;
            }
        }
    }

    /// <summary>Forgets hours before <paramref name="hour"/>, which can no longer be sold.</summary>
    public void ForgetBefore(long hour)
    {
        foreach (var h in _used.Keys.Where(h => h < hour).ToList())
        {
            _used.Remove(h);
        }
    }
}
