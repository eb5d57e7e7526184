namespace Marketplace.Web.Infrastructure;

/// <summary>The market rules the web tier validates against, read from the same "Market" settings the silos use.</summary>
internal static class MarketSettings
{
    /// <summary>How far ahead capacity is sold (the silos' <c>Market:BookingHorizonDays</c>, 14 by default).</summary>
    public static int BookingHorizonDays(this IConfiguration configuration) => configuration.GetValue("Market:BookingHorizonDays", 14);
}
