"""Environment for child Python processes in tests: they import the same fastinfer package as the
test process (the working tree's developer build, or the installed one in CI)."""

from __future__ import annotations

import os

import fastinfer

PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastinfer.__file__)))


def child_env(*extra_paths: str) -> dict:
    env = dict(os.environ)
    paths = [p for p in (*extra_paths, PKG_PARENT, env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def assert_runs_at_isa(isa: str, code: str, *extra_paths: str, timeout: float = 120) -> None:
    """Runs `code` (which prints 'ok' when its checks pass) in a child process whose kernels are
    capped at FASTINFER_ISA=isa, with `extra_paths` importable, and asserts that it passed."""
    import subprocess
    import sys
    env = child_env(*extra_paths)
    env["FASTINFER_ISA"] = isa
    p = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-3000:]
