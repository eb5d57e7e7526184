using Marketplace.Storage.Hosting;
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

/// <summary>The web tier's entry point (public so tests can host it).</summary>
public partial class Program;
