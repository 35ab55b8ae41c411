"""Helpers for benchmarks/bench_febrl.py and bench_defaults.py: FEBRL data as raw extracts in
the contract format, the plaintext path (the product's sealing and linkage without the keys)
and scoring against the truth."""
