#!/usr/bin/env bash
# Builds nos (Ninja, Release) in $NOS_BUILD_DIR (default build/), after installing missing packages; incremental.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${NOS_BUILD_DIR:-build}"
case "$build_dir" in
  /*) ;;
  *) build_dir="$root/$build_dir" ;;
esac

"$root/scripts/setup.sh"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build_dir" -j"${NOS_JOBS:-$(nproc)}"
