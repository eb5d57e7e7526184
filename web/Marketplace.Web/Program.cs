using Marketplace.Data.Hosting;
using Marketplace.Web;

return await StartupCheck.RunAsync(async () =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddMarketplaceWeb();

    var app = builder.Build();
    app.UseMarketplaceWeb();
    app.MapMarketplaceApi();

    await app.RunAsync();
    return 0;
});

namespace Marketplace.Web
{
    /// <summary>Names the web tier's assembly for hosts that run it in process (the tests).</summary>
    public sealed class WebTier;
}
