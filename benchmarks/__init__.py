"""Benchmarks: each prints its figures, and the ratio against a peer measured in the same run."""
