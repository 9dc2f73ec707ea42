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
elif [ /var/lib/dpkg/status -nt "$build_dir/CMakeCache.txt" ]; then
  # Packages were installed or removed since the cache was made (e.g. Open MPI after a first build without it):
  # configure again, so what CMake did not find then (MPI, nvcc, gnuplot ...) is looked for again.
  echo "build.sh: packages changed since $build_dir was configured: configuring again"
  cmake -S "$root" -B "$build_dir"
  touch "$build_dir/CMakeCache.txt"
fi
cmake --build "$build_dir" -j"${NOS_JOBS:-$(nproc)}"
