using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Marketplace.Domain;

namespace Marketplace.Web.Queries;

/// <summary>
/// The human-readable statement of an evidence pack: one printable HTML page, Chinese first and English beside it, with
/// amounts in yuan and times in Beijing time. Every value that came from a user is encoded.
/// </summary>
public static class EvidenceStatement
{
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Default;

    public static string Html(EvidenceFacts facts)
    {
        var v = facts.Voucher;
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="zh-CN">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            """);
        html.Append("<title>算力券使用证明 Compute voucher statement — ").Append(E(v.Id)).Append("</title>");
        html.Append("""
            <style>
            body { font-family: "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2rem; color: #111; }
            h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; border-bottom: 1px solid #999; }
            table { border-collapse: collapse; width: 100%; font-size: 0.85rem; } th, td { border: 1px solid #bbb; padding: 0.25rem 0.4rem; text-align: left; }
            td.n { text-align: right; font-variant-numeric: tabular-nums; } .en { color: #444; font-size: 0.9em; }
            code { word-break: break-all; }
            @media print { body { margin: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
            </style>
            </head>
            <body>
            <main>
            """);
        html.Append("<h1>算力券使用证明 <span class=\"en\" lang=\"en\">Compute voucher evidence statement</span></h1>");
        html.Append("<p>生成时间 <span class=\"en\" lang=\"en\">Generated</span>: ").Append(Time(facts.GeneratedAt)).Append("</p>");

        Section(html, "算力券", "Voucher");
        Facts(html,
            ("券编号", "Voucher", E(v.Id)),
            ("所属计划", "Programme", E(facts.Program is { } p ? $"{p.Definition.Name}（{p.Definition.Issuer}）" : v.ProgramId)),
            ("持有企业", "Holder", E(facts.Tenant is { } tenant ? $"{tenant.Registration.Name}（{v.TenantId}）" : v.TenantId)),
            ("状态", "State", VoucherState(v.State)),
            ("面值", "Face value", Yuan(v.FaceValueFen)),
            ("冻结中", "Held", Yuan(v.HeldFen)),
            ("已使用", "Spent", Yuan(v.CapturedFen)),
            ("已退回计划", "Returned to the programme", Yuan(v.ReturnedFen)),
            ("可用余额", "Available", Yuan(v.AvailableFen)),
            ("补贴比例", "Coverage", $"{v.CoverageBasisPoints / 100m:0.##}%"),
            ("有效期至", "Valid until", v.ExpiresAt is { } until ? Time(until) : "未激活 <span class=\"en\" lang=\"en\">not yet registered</span>"));

        Section(html, "申领时核验的资格", "Eligibility checked at the claim");
        var c = facts.Claim;
        Facts(html,
            ("申领时间", "Claimed", Time(c.ClaimedAt)),
            ("企业类型", "Kind of company", TenantKind(c.TenantKind)),
            ("所在省份", "Province", Province(c.TenantProvince)),
            ("统一社会信用代码", "Unified social credit code", c.TenantCreditCode is null ? "无（初创团队）<span class=\"en\" lang=\"en\">none (startup team)</span>" : E(c.TenantCreditCode)),
            ("关联方（申领时冻结）", "Related parties (frozen at the claim)", c.RelatedPartyCreditCodes.Count == 0 ? "无 <span class=\"en\" lang=\"en\">none</span>" : E(string.Join("、", c.RelatedPartyCreditCodes))),
            ("申领登记截止", "Registration deadline", Time(v.RegistrationDeadline)),
            ("可与其他券叠加", "Stackable", c.Stackable ? "是 yes" : "否 no"));

        Section(html, "登记的研发活动", "R&D activity as registered");
        if (v.Activity is { } activity)
        {
            Facts(html,
                ("登记时间", "Registered", v.RegisteredAt is { } at ? Time(at) : ""),
                ("项目名称", "Title", E(activity.Title)),
                ("项目说明", "Description", E(activity.Description)),
                ("计划算力（GPU 小时）", "Planned GPU-hours", activity.PlannedGpuHours.ToString("N0", CultureInfo.InvariantCulture)));
        }
        else
        {
            html.Append("<p>尚未登记 <span class=\"en\" lang=\"en\">Not registered</span></p>");
        }

        Section(html, "本券资助的租用", "Rentals the voucher funded");
        html.Append("<table id=\"rentals\"><thead><tr>");
        foreach (var (zh, en) in new[]
        {
            ("预约", "Reservation"), ("服务商 / 站点", "Provider / site"), ("加速卡", "Accelerator"), ("时间", "Time"), ("已用小时", "Hours used"),
            ("租金", "Cost"), ("券冻结", "Voucher held"), ("券支付", "Voucher paid"), ("状态", "State"),
        })
        {
            html.Append("<th scope=\"col\">").Append(zh).Append(" <span class=\"en\" lang=\"en\">").Append(en).Append("</span></th>");
        }
        html.Append("</tr></thead><tbody>");
        foreach (var rental in facts.Rentals)
        {
            var r = rental.Reservation;
            html.Append("<tr><td><code>").Append(E(rental.ReservationId)).Append("</code></td><td>")
                .Append(r is null ? "" : $"{E(r.Plan.ProviderId)} / {Province(r.Plan.Province)} {E(r.Plan.SiteId)}").Append("</td><td>")
                .Append(r is null ? "" : E($"{r.Plan.Gpus} × {r.Plan.GpuModel}")).Append("</td><td>")
                .Append(r is null ? "" : $"{Time(r.Plan.StartsAt)} – {Time(r.EndsAt)}").Append("</td><td class=\"n\">")
                .Append(r?.Settlement is { } s ? s.UsedHours.ToString(CultureInfo.InvariantCulture) : "").Append("</td><td class=\"n\">")
                .Append(Yuan(r?.Settlement?.CostFen ?? rental.RentalCostFen)).Append("</td><td class=\"n\">")
                .Append(Yuan(rental.HeldFen)).Append("</td><td class=\"n\">")
                .Append(Yuan(rental.CapturedFen)).Append("</td><td>")
                .Append(r is null ? E(rental.HoldState) : ReservationState(r.State)).Append(r?.Reason is { } why ? $"<br><small>{E(why)}</small>" : "")
                .Append("</td></tr>");
        }
        html.Append("</tbody></table>");

        Section(html, "账本交易", "Ledger transactions");
        html.Append("<table id=\"ledger\"><thead><tr>");
        foreach (var (zh, en) in new[] { ("序号", "No."), ("时间", "Posted"), ("类型", "Kind"), ("说明", "Description"), ("分录", "Entries") })
        {
            html.Append("<th scope=\"col\">").Append(zh).Append(" <span class=\"en\" lang=\"en\">").Append(en).Append("</span></th>");
        }
        html.Append("</tr></thead><tbody>");
        foreach (var t in facts.Ledger)
        {
            html.Append("<tr><td class=\"n\">").Append(t.Sequence).Append("</td><td>").Append(Time(t.PostedAt)).Append("</td><td>")
                .Append(LedgerKind(t.Kind)).Append("</td><td>").Append(E(t.Description)).Append("</td><td>")
                .AppendJoin("<br>", t.Entries.Select(e => $"{E(e.Account)}: {Yuan(e.AmountFen)}")).Append("</td></tr>");
        }
        html.Append("</tbody></table>");

        Section(html, "完整性", "Integrity");
        html.Append("<p>每笔账本交易都封存在其计划的哈希链中（券未支付任何金额的结算封存在现金链中）；本包的 manifest.json 列出每个文件的 SHA-256，chain.json 列出每笔交易的封存记录与被哈希的原文，以及生成本包时尚待封存的交易。")
            .Append("<br><span class=\"en\" lang=\"en\">Each ledger transaction is sealed into its programme's hash chain (a settlement the voucher paid nothing of, into the cash chain); manifest.json lists every file's SHA-256, and chain.json every seal with the text it hashes and any posting still waiting for its seal when the pack was made.</span></p>");
        html.Append("<p>").Append(E(EvidencePacks.HashRule)).Append("</p>");
        foreach (var head in facts.Heads)
        {
            html.Append("<p>链头 <span class=\"en\" lang=\"en\">Chain head</span> ")
                .Append(head.Chain.Length == 0 ? "现金链 <span class=\"en\" lang=\"en\">cash chain</span>" : E(head.Chain))
                .Append($": #{head.Sequence} <code>{head.Hash}</code></p>");
        }
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static void Section(StringBuilder html, string zh, string en) =>
        html.Append("<h2>").Append(zh).Append(" <span class=\"en\" lang=\"en\">").Append(en).Append("</span></h2>");

    private static void Facts(StringBuilder html, params (string Zh, string En, string Value)[] rows)
    {
        html.Append("<table><tbody>");
        foreach (var (zh, en, value) in rows)
        {
            html.Append("<tr><th scope=\"row\">").Append(zh).Append(" <span class=\"en\" lang=\"en\">").Append(en).Append("</span></th><td>")
                .Append(value).Append("</td></tr>");
        }
        html.Append("</tbody></table>");
    }

    private static string E(string text) => Encoder.Encode(text);

    private static string Province(string province) =>
        Provinces.ChineseNames.TryGetValue(province, out var name) ? $"{name} <span class=\"en\" lang=\"en\">{E(province)}</span>" : E(province);

    private static string TenantKind(string kind) => kind switch
    {
        nameof(global::Marketplace.TenantKind.Sme) => "中小企业 <span class=\"en\" lang=\"en\">SME</span>",
        nameof(global::Marketplace.TenantKind.StartupTeam) => "初创团队 <span class=\"en\" lang=\"en\">startup team</span>",
        _ => E(kind),
    };

    /// <summary>Fen as yuan with two decimals, e.g. 160.00 元.</summary>
    public static string Yuan(long fen) => (fen / 100m).ToString("#,##0.00", CultureInfo.InvariantCulture) + " 元";

    /// <summary>A moment in Beijing time, to the minute.</summary>
    public static string Time(DateTimeOffset at) =>
        at.ToOffset(ChinaTime.Offset).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "（北京时间）";

    private static string VoucherState(global::Marketplace.VoucherState state) => state switch
    {
        global::Marketplace.VoucherState.Claimed => "已申领，待登记 <span class=\"en\" lang=\"en\">claimed</span>",
        global::Marketplace.VoucherState.Active => "有效 <span class=\"en\" lang=\"en\">active</span>",
        global::Marketplace.VoucherState.Exhausted => "已用完 <span class=\"en\" lang=\"en\">exhausted</span>",
        global::Marketplace.VoucherState.Expired => "已过期 <span class=\"en\" lang=\"en\">expired</span>",
        _ => "已失效（未按期登记）<span class=\"en\" lang=\"en\">lapsed</span>",
    };

    private static string ReservationState(global::Marketplace.ReservationState state) => state switch
    {
        global::Marketplace.ReservationState.Pending => "确认中 <span class=\"en\" lang=\"en\">pending</span>",
        global::Marketplace.ReservationState.Confirmed => "已确认 <span class=\"en\" lang=\"en\">confirmed</span>",
        global::Marketplace.ReservationState.Active => "使用中 <span class=\"en\" lang=\"en\">running</span>",
        global::Marketplace.ReservationState.Completed => "已完成 <span class=\"en\" lang=\"en\">completed</span>",
        global::Marketplace.ReservationState.Cancelled => "已取消 <span class=\"en\" lang=\"en\">cancelled</span>",
        global::Marketplace.ReservationState.Interrupted => "因故障中断 <span class=\"en\" lang=\"en\">interrupted by an outage</span>",
        _ => "未成交 <span class=\"en\" lang=\"en\">failed</span>",
    };

    private static string LedgerKind(string kind) => kind switch
    {
        "claim" => "发放 <span class=\"en\" lang=\"en\">issue</span>",
        "hold" => "冻结 <span class=\"en\" lang=\"en\">hold</span>",
        "capture" => "支付 <span class=\"en\" lang=\"en\">capture</span>",
        "release" => "解冻 <span class=\"en\" lang=\"en\">release</span>",
        "trim" => "调减冻结 <span class=\"en\" lang=\"en\">trim</span>",
        "return" => "退回计划 <span class=\"en\" lang=\"en\">return</span>",
        "settle" => "结算 <span class=\"en\" lang=\"en\">settle</span>",
        _ => E(kind),
    };
}
