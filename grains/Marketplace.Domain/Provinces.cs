namespace Marketplace;

/// <summary>
/// Province-level divisions of mainland China (and Hong Kong, Macau, Taiwan) by their English names, as used on the
/// utilization map, with their Chinese names and their two-digit codes of GB/T 2260 (the first two digits of every
/// administrative-division code, and so of characters 3 to 8 of a unified social credit code).
/// </summary>
public static class Provinces
{
    private sealed record Province(string Name, string ChineseName, string Code);

    private static readonly Province[] All =
    [
        new("Beijing", "北京市", "11"), new("Tianjin", "天津市", "12"), new("Hebei", "河北省", "13"), new("Shanxi", "山西省", "14"),
        new("Inner Mongolia", "内蒙古自治区", "15"), new("Liaoning", "辽宁省", "21"), new("Jilin", "吉林省", "22"),
        new("Heilongjiang", "黑龙江省", "23"), new("Shanghai", "上海市", "31"), new("Jiangsu", "江苏省", "32"), new("Zhejiang", "浙江省", "33"),
        new("Anhui", "安徽省", "34"), new("Fujian", "福建省", "35"), new("Jiangxi", "江西省", "36"), new("Shandong", "山东省", "37"),
        new("Henan", "河南省", "41"), new("Hubei", "湖北省", "42"), new("Hunan", "湖南省", "43"), new("Guangdong", "广东省", "44"),
        new("Guangxi", "广西壮族自治区", "45"), new("Hainan", "海南省", "46"), new("Chongqing", "重庆市", "50"), new("Sichuan", "四川省", "51"),
        new("Guizhou", "贵州省", "52"), new("Yunnan", "云南省", "53"), new("Tibet", "西藏自治区", "54"), new("Shaanxi", "陕西省", "61"),
        new("Gansu", "甘肃省", "62"), new("Qinghai", "青海省", "63"), new("Ningxia", "宁夏回族自治区", "64"),
        new("Xinjiang", "新疆维吾尔自治区", "65"), new("Taiwan", "台湾省", "71"), new("Hong Kong", "香港特别行政区", "81"),
        new("Macau", "澳门特别行政区", "82"),
    ];

    public static readonly IReadOnlyDictionary<string, string> ChineseNames =
        All.ToDictionary(p => p.Name, p => p.ChineseName, StringComparer.Ordinal);

    /// <summary>The GB/T 2260 province code ("11" for Beijing) by English name.</summary>
    public static readonly IReadOnlyDictionary<string, string> Codes = All.ToDictionary(p => p.Name, p => p.Code, StringComparer.Ordinal);

    private static readonly IReadOnlyDictionary<string, string> ByCode = All.ToDictionary(p => p.Code, p => p.Name, StringComparer.Ordinal);

    public static bool IsKnown(string? province) => province is not null && ChineseNames.ContainsKey(province);

    /// <summary>The province whose two-digit GB/T 2260 code this is, or null.</summary>
    public static string? OfCode(string code) => ByCode.GetValueOrDefault(code);

    /// <summary>
    /// Why a valid credit code does not belong to a company registered in <paramref name="province"/>, or null when it does:
    /// characters 3 to 8 are the registering authority's administrative division, whose first two digits are its province.
    /// </summary>
    public static string? CreditCodeMismatch(string creditCode, string province)
    {
        var division = creditCode[2..8];
        if (!division.All(char.IsAsciiDigit))
        {
            return $"characters 3 to 8 ('{division}') must be the digits of an administrative division";
        }
        var registeredIn = OfCode(division[..2]);
        if (registeredIn is null)
        {
            return $"characters 3 to 8 ('{division}') name no province ('{division[..2]}' is not a province code)";
        }
        return registeredIn == province ? null
            : $"characters 3 to 8 ('{division}') say the company is registered in {registeredIn}, not {province}";
    }
}
