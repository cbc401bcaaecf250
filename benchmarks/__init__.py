"""Benchmark harness of issue 5: fsjobstore against the file and SQLite queues a
user might pick instead. Run ``python benchmarks/run.py --help``."""
