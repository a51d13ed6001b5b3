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
