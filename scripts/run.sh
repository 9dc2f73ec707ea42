#!/usr/bin/env bash
# Builds nos, then runs `nos search` with the given arguments (none: the embedded demo search on Fashion-MNIST).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${NOS_BUILD_DIR:-build}"
case "$build_dir" in
  /*) ;;
  *) build_dir="$root/$build_dir" ;;
esac

# Build messages go to stderr so that stdout is nos's alone (e.g. with --json).
"$root/scripts/build.sh" >&2
exec "$build_dir/nos" search "$@"
