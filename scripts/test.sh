#!/usr/bin/env bash
# Builds nos, then runs the whole test suite with ctest (entries in parallel), then names skipped and slow tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${NOS_BUILD_DIR:-build}"
case "$build_dir" in
  /*) ;;
  *) build_dir="$root/$build_dir" ;;
esac

"$root/scripts/build.sh"
# The entries run side by side (NOS_TEST_JOBS, default: the number of cores); each writes its GoogleTest results to
# build/test-results/, from which test_report.py names every skipped test with its reason and the slowest tests.
rm -rf "$build_dir/test-results"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"${NOS_TEST_JOBS:-$(nproc)}" || status=$?
/usr/bin/python3 "$root/scripts/test_report.py" "$build_dir" || true
exit "$status"
