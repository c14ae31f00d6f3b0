"""Benchmark test modules for bench_throughput.py, bench_time_to_bug.py and bench_solver.py."""
