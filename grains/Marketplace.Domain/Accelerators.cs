namespace Marketplace.Domain;

/// <summary>How accelerators of one model talk to each other inside a server.</summary>
public enum InterconnectClass
{
    /// <summary>Only through the host's PCIe bus: fine for one card, slow for a gang that trains one model.</summary>
    Pcie,
    /// <summary>A vendor's scale-up link between the accelerators of a server (NVLink, HCCS, MLU-Link, MTLink).</summary>
    ScaleUpLink,
}

/// <summary>
/// One accelerator model the market trades. <see cref="Id"/> is the market key (a market grain per id). Figures are the
/// vendor's published ones for dense tensor math (no sparsity), rounded down to whole TFLOPS; null where the vendor
/// publishes none, so that a part is never compared on a guess.
/// </summary>
/// <param name="DenseFp16Tflops">Dense BF16 tensor TFLOPS where published, otherwise dense FP16: the unit compute is traded in.</param>
/// <param name="DenseFp8Tflops">Dense FP8 tensor TFLOPS, where the part has FP8 and the figure is published.</param>
/// <param name="DenseInt8Tops">Dense INT8 tensor TOPS, where published.</param>
/// <param name="Link">The scale-up link as the vendor names it, or null for PCIe only.</param>
public sealed record Accelerator(
    string Id,
    string Vendor,
    string Model,
    int MemoryGb,
    int? DenseFp16Tflops,
    int? DenseFp8Tflops,
    int? DenseInt8Tops,
    InterconnectClass Interconnect,
    string? Link);

/// <summary>
/// The catalogue of accelerators (DESIGN rule 9): every traded model with its memory and dense TFLOPS, so that a GPU-hour
/// of one part can be compared with another in PFLOPS-hours. The only list of models in the product.
/// </summary>
public static class Accelerators
{
    public const string Nvidia = "NVIDIA";
    public const string Huawei = "Huawei";
    public const string Hygon = "Hygon";
    public const string Kunlunxin = "Kunlunxin";
    public const string Cambricon = "Cambricon";
    public const string MooreThreads = "Moore Threads";

    public static readonly IReadOnlyList<Accelerator> All =
    [
        // NVIDIA H800 Tensor Core GPU datasheet (SXM5): BF16 1,979 TFLOPS, FP8 3,958 TFLOPS and INT8 3,958 TOPS, each
        // "with sparsity" (dense is half); 80 GB HBM3; NVLink 400 GB/s.
        new("H800-80G", Nvidia, "H800 SXM5 80GB", 80, 989, 1_979, 1_979, InterconnectClass.ScaleUpLink, "NVLink 400 GB/s"),
        // NVIDIA HGX H20 specification as NVIDIA gave it to server makers (there is no public NVIDIA product page):
        // dense BF16 148 TFLOPS, FP8 296 TFLOPS, INT8 296 TOPS; 96 GB HBM3; NVLink 900 GB/s.
        new("H20-96G", Nvidia, "H20 96GB", 96, 148, 296, 296, InterconnectClass.ScaleUpLink, "NVLink 900 GB/s"),
        // NVIDIA A800 Tensor Core GPU datasheet (SXM 80GB): BF16 312 TFLOPS and INT8 624 TOPS dense (624 / 1,248 with
        // sparsity); no FP8 (Ampere); 80 GB HBM2e; NVLink 400 GB/s.
        new("A800-80G", Nvidia, "A800 SXM4 80GB", 80, 312, null, 624, InterconnectClass.ScaleUpLink, "NVLink 400 GB/s"),
        // NVIDIA L40S datasheet: BF16 362.05 TFLOPS, FP8 733 TFLOPS, INT8 733 TOPS dense (twice that with sparsity);
        // 48 GB GDDR6; PCIe Gen4 x16, no NVLink.
        new("L40S-48G", Nvidia, "L40S 48GB", 48, 362, 733, 733, InterconnectClass.Pcie, null),
        // NVIDIA Ada Lovelace GPU architecture whitepaper, GeForce RTX 4090 column: BF16 (FP32 accumulate) 165.2 TFLOPS,
        // FP8 (FP32 accumulate) 330.3 TFLOPS, INT8 660.6 TOPS dense; 24 GB GDDR6X; no NVLink.
        new("RTX4090-24G", Nvidia, "GeForce RTX 4090 24GB", 24, 165, 330, 660, InterconnectClass.Pcie, null),
        // Huawei Atlas 800T A2 training server documentation: Ascend 910B with 64 GB HBM2e and HCCS between the eight
        // NPUs. Huawei publishes no per-chip dense FP16 figure for the 910B (third-party reports differ), so none here.
        new("Ascend910B-64G", Huawei, "Ascend 910B 64GB", 64, null, null, null, InterconnectClass.ScaleUpLink, "HCCS"),
        // Huawei Connect 2025 Ascend roadmap: Ascend 910C with 128 GB HBM. No dense FP16 figure on a Huawei product page.
        new("Ascend910C-128G", Huawei, "Ascend 910C 128GB", 128, null, null, null, InterconnectClass.ScaleUpLink, "HCCS"),
        // Hygon DCU Z100 (深算一号) product page: 32 GB HBM2, PCIe. Hygon publishes no dense FP16 tensor figure.
        new("HygonZ100-32G", Hygon, "DCU Z100 32GB", 32, null, null, null, InterconnectClass.Pcie, null),
        // Kunlunxin R200 product page: FP16 128 TFLOPS, INT8 256 TOPS; 32 GB GDDR6; PCIe 4.0. No BF16 or FP8 figure.
        new("KunlunR200-32G", Kunlunxin, "R200 32GB", 32, 128, null, 256, InterconnectClass.Pcie, null),
        // Cambricon MLU370-X8 product page: BF16 96 TFLOPS, FP16 96 TFLOPS, INT8 256 TOPS; 48 GB LPDDR5; MLU-Link.
        new("MLU370X8-48G", Cambricon, "MLU370-X8 48GB", 48, 96, null, 256, InterconnectClass.ScaleUpLink, "MLU-Link 200 GB/s"),
        // Moore Threads MTT S4000 product page: FP16/BF16 100 TFLOPS, INT8 200 TOPS; 48 GB GDDR6; MTLink 240 GB/s.
        new("MTTS4000-48G", MooreThreads, "MTT S4000 48GB", 48, 100, null, 200, InterconnectClass.ScaleUpLink, "MTLink 240 GB/s"),
    ];

    private static readonly Dictionary<string, Accelerator> ById = All.ToDictionary(a => a.Id, StringComparer.Ordinal);

    public static Accelerator? Find(string? id) => id is not null && ById.TryGetValue(id, out var accelerator) ? accelerator : null;

    /// <summary>The vendors of the catalogue, in catalogue order.</summary>
    public static IReadOnlyList<string> Vendors { get; } = All.Select(a => a.Vendor).Distinct(StringComparer.Ordinal).ToList();
}
