"""Benchmarks of airflow-provider-aep: parse cost, requests per task, client overhead, paging, triggerer scale.

Run ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` (CI). Every figure is a ratio
against a reference measured in the same run; see ``benchmarks/README.md``.
"""
