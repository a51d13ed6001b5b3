#!/usr/bin/env bash
# Incremental developer build: compiles fastinfer._core into python/fastinfer/ so that
# `PYTHONPATH=python python -m pytest` runs against the working tree. Usage: tools/dev_build.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/dev}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTINFER_DEV_INPLACE=ON \
    -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
fi
ninja -C "$BUILD"
