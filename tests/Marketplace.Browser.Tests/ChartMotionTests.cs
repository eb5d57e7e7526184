using System.Text.Json;
using Marketplace.Testing;
using Xunit;

namespace Marketplace.Browser.Tests;

/// <summary>
/// A reader whose system asks for reduced motion gets charts that do not animate: the regulator's map is drawn by the time
/// the page has its data, which is what the screenshot tool (load/Marketplace.Screenshots, reduced motion) waits for
/// instead of waiting a while. Anyone else still sees the map animate.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ChartMotionTests(BrowserFixture fixture)
{
    private const string MapState =
        "() => { const chart = echarts.getInstanceByDom(document.getElementById('map')); "
        + "return { animation: chart.getOption().animation, finished: chart.getZr().animation.isFinished() }; }";

    [Fact]
    public async Task With_reduced_motion_the_map_is_drawn_once_its_data_is_there_and_otherwise_it_animates()
    {
        await using (var still = await fixture.SignInAsync(Names.Roles.Regulator, language: "zh", reducedMotion: true))
        {
            await still.Page.WaitForFunctionAsync("n => (window.__marketplace.map?.sites.length ?? 0) >= n", DemoMarket.Sites.Length);
            var state = await still.Page.EvaluateAsync<JsonElement>(MapState);
            Assert.False(state.GetProperty("animation").GetBoolean());
            // Nothing left to animate: the canvas shows the data the page holds.
            Assert.True(state.GetProperty("finished").GetBoolean());
            Assert.Empty(still.Errors);
        }

        await using var moving = await fixture.SignInAsync(Names.Roles.Regulator, language: "zh");
        await moving.Page.WaitForFunctionAsync("n => (window.__marketplace.map?.sites.length ?? 0) >= n", DemoMarket.Sites.Length);
        Assert.True((await moving.Page.EvaluateAsync<JsonElement>(MapState)).GetProperty("animation").GetBoolean());
        Assert.Empty(moving.Errors);
    }
}
