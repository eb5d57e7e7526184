namespace Marketplace.Domain.Rules;

/// <summary>
/// What a provider declares about its sites (the GPUs installed at each, per model) and what its pools may list there:
/// the pools listed at a site never add up to more GPUs of a model than the site has installed (rule 4).
/// </summary>
public static class SiteRules
{
    /// <summary>The first site id listed more than once, or null when each is listed once.</summary>
    public static string? RepeatedSite(IEnumerable<string> siteIds) =>
        siteIds.GroupBy(id => id).FirstOrDefault(g => g.Count() > 1)?.Key;

    /// <summary>
    /// Each installed entry names one of the provider's sites and a GPU model the market trades, once, with a count in range:
    /// the first that does not, as its index and what is wrong with it, or null.
    /// </summary>
    public static (int Index, string Problem)? InstalledProblem(
        IReadOnlyCollection<string> siteIds, IReadOnlyList<(string SiteId, string GpuModel, int Count)> installed)
    {
        var seen = new HashSet<(string, string)>();
        for (var i = 0; i < installed.Count; i++)
        {
            var (siteId, gpuModel, count) = installed[i];
            var problem = !siteIds.Contains(siteId) ? $"names no site of the provider ('{siteId}')"
                : Accelerators.Find(gpuModel) is null ? $"'{gpuModel}' is not a GPU model the market trades"
                : count is < 0 or > PoolRules.MaxInstalledGpusPerModel ? $"count must be between 0 and {PoolRules.MaxInstalledGpusPerModel}"
                : !seen.Add((siteId, gpuModel)) ? $"site '{siteId}' declares {gpuModel} twice"
                : null;
            if (problem is not null)
            {
                return (i, problem);
            }
        }
        return null;
    }

    /// <summary>
    /// Why a pool of <paramref name="gpus"/> GPUs does not fit at a site that has <paramref name="installed"/> of the model
    /// installed while its other pools of the model list <paramref name="othersListed"/>, or null when it fits.
    /// </summary>
    public static string? ListingProblem(string siteId, string gpuModel, int installed, int othersListed, int gpus) =>
        othersListed + gpus > installed
            ? $"site '{siteId}' has {installed} {gpuModel} GPUs installed and {othersListed} of them already listed; a pool of {gpus} does not fit"
            : null;

    /// <summary>
    /// Why a site cannot declare <paramref name="installed"/> GPUs of a model when its pools already list <paramref name="listed"/>,
    /// or null when it can.
    /// </summary>
    public static string? DeclaredBelowListed(string siteId, string gpuModel, int installed, int listed) =>
        listed > installed
            ? $"site '{siteId}' lists pools of {listed} {gpuModel} GPUs; it cannot declare {installed} installed"
            : null;
}
