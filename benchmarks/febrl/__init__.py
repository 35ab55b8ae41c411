"""Helpers for benchmarks/bench_febrl.py: FEBRL data in the contract format, the plaintext
Splink path and scoring against the truth."""
