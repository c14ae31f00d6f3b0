"""Benchmark test modules for bench_throughput.py and bench_time_to_bug.py."""
