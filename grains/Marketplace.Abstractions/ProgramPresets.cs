namespace Marketplace;

/// <summary>
/// The voucher programs named in the source articles, as program definitions. Figures the articles give are used as
/// given; every other figure is an assumption, and the preset's <see cref="ProgramDefinition.Assumptions"/> says so.
/// Claim windows are not in the articles: each preset opens at the time given and stays open for a year.
/// </summary>
public static class ProgramPresets
{
    private const long Yuan = 100; // fen

    public const string Beijing = "bj-2026-b1";
    public const string Shanghai = "sh-2026";
    public const string Chengdu = "cd-2026";
    public const string Shandong = "sd-2026";
    public const string Shenzhen = "sz-2026";
    public const string Henan = "ha-2026";
    public const string Ningbo = "nb-2026";

    public static IReadOnlyList<(string Id, ProgramDefinition Definition)> All(DateTimeOffset opensAt)
    {
        var closes = opensAt.AddYears(1);
        TenantKind[] both = [TenantKind.Sme, TenantKind.StartupTeam];
        TenantKind[] smes = [TenantKind.Sme];
        return
        [
            (Beijing, new ProgramDefinition(
                "Capital Technological Innovation Voucher 2026, batch 1",
                "Beijing Municipal Science and Technology Commission; Zhongguancun Administrative Commission",
                "Beijing", opensAt, closes, 100_000_000 * Yuan, 50_000 * Yuan, 10_000, both, 15, 90, false, false,
                "Given: cap 50,000 CNY, registration within 15 days, valid up to three months (three calendar months in Beijing " +
                "time), SMEs and startup teams in Beijing. Assumed: a budget of 100 million CNY and coverage of the whole rental fee.",
                ValidityMonths: 3)),
            (Shanghai, new ProgramDefinition(
                "Shanghai computing power voucher 2026", "Shanghai Municipal Commission of Economy and Informatization",
                "Shanghai", opensAt, closes, 600_000_000 * Yuan, 500_000 * Yuan, 8_000, smes, 15, 90, false, false,
                "Given: about 600 million CNY in vouchers covering up to 80% of AI rental fees. Assumed: a cap of 500,000 CNY " +
                "per voucher, SMEs only, 15 days to register and 90 days of validity.")),
            (Chengdu, new ProgramDefinition(
                "Chengdu computing power voucher pilot 2026", "Chengdu Municipal Government", "Sichuan", opensAt, closes,
                100_000_000 * Yuan, 300_000 * Yuan, 5_000, both, 15, 90, false, false,
                "Given: 100 million CNY. Assumed: a cap of 300,000 CNY per voucher, 50% coverage, SMEs and startup teams, " +
                "15 days to register and 90 days of validity.")),
            (Shandong, new ProgramDefinition(
                "Shandong computing power voucher 2026", "Shandong Provincial Government", "Shandong", opensAt, closes,
                30_000_000 * Yuan, 200_000 * Yuan, 5_000, smes, 15, 90, false, false,
                "Given: 30 million CNY (with a further 1 billion CNY planned, not modelled). Assumed: a cap of 200,000 CNY per " +
                "voucher, 50% coverage, SMEs only, 15 days to register and 90 days of validity.")),
            (Shenzhen, new ProgramDefinition(
                "Shenzhen computing power voucher 2026", "Shenzhen Municipal Government", "Guangdong", opensAt, closes,
                200_000_000 * Yuan, 1_000_000 * Yuan, 5_000, smes, 15, 90, false, false,
                "The source names the program without figures. Assumed: a budget of 200 million CNY, a cap of 1 million CNY " +
                "per voucher, 50% coverage, SMEs only, 15 days to register and 90 days of validity.")),
            (Henan, new ProgramDefinition(
                "Henan computing power voucher 2026", "Henan Provincial Government", "Henan", opensAt, closes,
                50_000_000 * Yuan, 200_000 * Yuan, 5_000, smes, 15, 90, false, false,
                "The source names the program without figures. Assumed: a budget of 50 million CNY, a cap of 200,000 CNY per " +
                "voucher, 50% coverage, SMEs only, 15 days to register and 90 days of validity.")),
            (Ningbo, new ProgramDefinition(
                "Ningbo computing power voucher 2026", "Ningbo Municipal Government", "Zhejiang", opensAt, closes,
                50_000_000 * Yuan, 200_000 * Yuan, 5_000, both, 15, 90, false, false,
                "The source names the program without figures. Assumed: a budget of 50 million CNY, a cap of 200,000 CNY per " +
                "voucher, 50% coverage, SMEs and startup teams, 15 days to register and 90 days of validity.")),
        ];
    }

    public static ProgramDefinition Get(string id, DateTimeOffset opensAt) => All(opensAt).Single(p => p.Id == id).Definition;
}
