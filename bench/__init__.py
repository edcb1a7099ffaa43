"""Benchmarks behind every figure the README quotes. Run from the repo root."""
