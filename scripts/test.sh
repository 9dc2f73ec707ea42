#!/usr/bin/env bash
# Builds nos, then runs the whole test suite with ctest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${NOS_BUILD_DIR:-build}"
case "$build_dir" in
  /*) ;;
  *) build_dir="$root/$build_dir" ;;
esac

"$root/scripts/build.sh"
ctest --test-dir "$build_dir" --output-on-failure
