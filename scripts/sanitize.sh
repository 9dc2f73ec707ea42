#!/usr/bin/env bash
# Builds nos with AddressSanitizer and UndefinedBehaviorSanitizer in $NOS_SANITIZE_DIR (default build-sanitize/) and
# runs the tasks, search and experiments tests under them (a use of freed memory, an overflow or undefined behaviour
# stops the test with a report). Run it after any change to the pools, the wire protocol or populations
# (dispatch/pool*, dispatch/population_pool*, dispatch/wire*, tasks/population*): issue 33's freed-memory read passed every
# plain test. Extra arguments go to each test executable (e.g. --gtest_filter=PopulationPool.*).
#
# LibTorch itself is not instrumented; leaks are not checked (LibTorch keeps allocations for the process's life). The
# fused kernel is built for the baseline x86-64 only, uninstrumented. The first build takes about as long as scripts/build.sh's;
# later ones are incremental.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${NOS_SANITIZE_DIR:-build-sanitize}"
case "$build_dir" in
  /*) ;;
  *) build_dir="$root/$build_dir" ;;
esac

"$root/scripts/setup.sh"
# vptr is off: LibTorch's classes come from a library built without UBSan's type information.
flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# The fused kernel's baseline copy only (NOS_FUSED_VECTOR_ISAS=OFF), compiled without instrumentation
# (NOS_UNINSTRUMENTED_KERNEL=ON): instrumented, one copy takes over 20 minutes on 2 cores, and the tests here
# exercise the evaluation around the kernel (pools, populations, stores); the kernel has its own reference tests.
generator=()
if [ ! -f "$build_dir/CMakeCache.txt" ]; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOS_FUSED_VECTOR_ISAS=OFF \
  -DNOS_UNINSTRUMENTED_KERNEL=ON \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build_dir" -j"${NOS_JOBS:-$(nproc)}" --target nos test_tasks test_search test_experiments

export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:detect_odr_violation=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export OMP_NUM_THREADS=1
status=0
for suite in tasks search experiments; do
  echo "== sanitize: test_$suite" >&2
  if ! "$build_dir/tests/test_$suite" --gtest_brief=1 "$@"; then
    echo "sanitize: test_$suite FAILED (see the sanitizer's report above)" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then echo "sanitize: tasks, search and experiments tests clean under ASan + UBSan" >&2; fi
exit "$status"
