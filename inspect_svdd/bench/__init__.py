"""Validation benchmarks: recipe parsing, data, runner, baselines and reports."""
