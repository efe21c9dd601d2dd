"""Timing loops over runners: latency percentiles and throughput per backend."""

from nnport.bench.run import BackendTiming, BenchOptions, BenchResult, bench

__all__ = ["BackendTiming", "BenchOptions", "BenchResult", "bench"]
