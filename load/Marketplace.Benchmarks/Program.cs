// Micro-benchmarks of the matching core (BenchmarkDotNet). load/bench.sh runs them with `--job short --filter '*'`.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Marketplace.Benchmarks.MatchingBenchmarks).Assembly).Run(args);
