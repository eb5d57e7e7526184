using System.ComponentModel.DataAnnotations;

namespace Marketplace.Grains;

/// <summary>
/// The silo's timing of the market ("Market" section). The limits the web tier enforces too are in
/// <see cref="Marketplace.Domain.MarketLimits"/>, bound from the same section.
/// </summary>
public sealed class MarketOptions
{
    public const string Section = "Market";

    /// <summary>How long a pool keeps an unconfirmed hold before giving the capacity back.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Market:HoldTtl must be between 00:00:01 and 01:00:00")]
    public TimeSpan HoldTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the sweeper applies the time rules. Zero turns the timer off (tests tick it themselves).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ErrorMessage = "Market:SweepInterval must be between 00:00:00 and 01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A saga or bid left pending this long is assumed orphaned by a crash and resumed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Market:StaleAfter must be between 00:00:01 and 01:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most bids one market keeps resting; past this a GTC bid that cannot fill is rejected.</summary>
    [Range(1, 1_000_000, ErrorMessage = "Market:MaxRestingBids must be between 1 and 1000000")]
    public int MaxRestingBids { get; set; } = 50_000;

    /// <summary>Most bids one company keeps resting in one market, so no firm can fill the book alone.</summary>
    [Range(1, 1_000_000, ErrorMessage = "Market:MaxRestingBidsPerTenant must be between 1 and 1000000")]
    public int MaxRestingBidsPerTenant { get; set; } = 200;

    /// <summary>How often pools and markets push their state to dashboards at most.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00", ErrorMessage = "Market:PushInterval must be between 00:00:00.050 and 00:01:00")]
    public TimeSpan PushInterval { get; set; } = TimeSpan.FromMilliseconds(250);
}
