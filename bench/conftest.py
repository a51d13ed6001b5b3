"""pytest configuration for the kernel benchmarks: `pytest bench/ --benchmark-only` collects
bench_*.py (the normal test run never looks here: testpaths is tests/)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_collect_file(file_path, parent):
    """Collects bench/bench_*.py as test modules."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def peak() -> float:
    """This machine's measured fp32 GFLOP/s per core."""
    from peak import measured_peak

    return measured_peak()
