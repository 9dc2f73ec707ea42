#!/usr/bin/env bash
# The GPU checks of nos in one call: builds nos against the CUDA LibTorch of a PyTorch installation (README,
# "Building against another LibTorch"), runs the CUDA tests (fused kernel against the reference path, CUDA against
# CPU, population exactness on the GPU) and the population benchmark on fmnist-convnet and cifar10-convnet, and
# writes everything to one file.
#
#   sh scripts/gpu-check.sh [OUTPUT]         (default gpu-check.log in the repository root)
#
# Environment: PYTHON (default python3: the one whose torch has CUDA), NOS_GPU_BUILD (default build-cuda),
# NOS_GPU_DEPS (a prefix holding the Debian packages nos needs, unpacked with dpkg -x, for a machine without them:
# prepare it on a Debian machine with `sh scripts/gpu-check.sh --fetch-deps DIR`), NOS_JOBS.
# Exit status: 0 all passed, 1 a step failed, 3 no CUDA here (it stops before the first step that needs one).
set -u

root="$(cd "$(dirname "$0")/.." && pwd)"
deps_packages="libyaml-cpp-dev libyaml-cpp0.7 libboost-program-options-dev libboost-program-options1.74-dev
  libboost-program-options1.74.0 libboost1.74-dev libsqlite3-dev libsqlite3-0 libjpeg62-turbo-dev libjpeg62-turbo
  libgtest-dev zlib1g-dev"

if [ "${1:-}" = "--fetch-deps" ]; then
  dir="${2:?usage: gpu-check.sh --fetch-deps DIR}"
  mkdir -p "$dir/debs" && cd "$dir/debs" || exit 1
  # shellcheck disable=SC2086
  apt-get download $deps_packages || exit 1
  for deb in *.deb; do dpkg -x "$deb" "$dir"; done
  echo "gpu-check: unpacked $(ls ./*.deb | wc -l) packages into $dir (set NOS_GPU_DEPS=$dir)"
  exit 0
fi

out="${1:-$root/gpu-check.log}"
: > "$out"
log() { echo "$@" | tee -a "$out"; }
step() {  # step TITLE COMMAND...: runs it, its output into the file; remembers a failure
  log ""
  log "== $1"
  shift
  log "\$ $*"
  "$@" >> "$out" 2>&1
  status=$?
  log "-> exit $status"
  [ "$status" -eq 0 ] || failed=1
  return "$status"
}
failed=0
python="${PYTHON:-python3}"
build="${NOS_GPU_BUILD:-$root/build-cuda}"

log "gpu-check: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
step "GPU" sh -c 'nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"'
info="$("$python" -c 'import torch; print(torch.__version__, torch.version.cuda or "none", torch.cuda.is_available())' 2>/dev/null)"
[ -n "$info" ] || info="absent none False"
log "torch (python $python): $info"
set -- $info
if [ "$2" = "none" ] || [ "$3" != "True" ]; then
  log "gpu-check: no CUDA here (torch $1, CUDA $2, GPU visible: $3): the CUDA build, tests and benchmark need"
  log "a CUDA PyTorch and a GPU; stopping before them."
  exit 3
fi
prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
[ -n "${NOS_GPU_DEPS:-}" ] && prefix="$prefix;$NOS_GPU_DEPS/usr"
cmake_args="-DCMAKE_BUILD_TYPE=Release"
[ -n "${NOS_GPU_DEPS:-}" ] && cmake_args="$cmake_args -DCMAKE_INCLUDE_PATH=$NOS_GPU_DEPS/usr/include -DCMAKE_LIBRARY_PATH=$NOS_GPU_DEPS/usr/lib/x86_64-linux-gnu"
generator=""
command -v ninja > /dev/null && generator="-G Ninja"
# shellcheck disable=SC2086
step "configure" cmake -S "$root" -B "$build" $generator $cmake_args -DCMAKE_PREFIX_PATH="$prefix" || exit 1
step "build" cmake --build "$build" -j"${NOS_JOBS:-$(nproc)}" --target nos test_optimizers test_tasks || exit 1
[ -n "${NOS_GPU_DEPS:-}" ] && export LD_LIBRARY_PATH="$NOS_GPU_DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
step "CUDA optimizer tests" "$build/tests/test_optimizers" --gtest_filter='*Cuda*'
step "population on the GPU" "$build/tests/test_tasks" --gtest_filter='PopulationCuda.*'
step "quadratic on cuda" "$build/nos" eval --rule adam --task quadratic --device cuda
step "bench step" "$build/nos" bench step --device cuda --params 1M,16M --rule adam --rule powersign
for task in fmnist-convnet cifar10-convnet; do
  step "bench children $task" "$build/nos" bench children --task "$task" --device cuda --k 1,2,4,8,16,32,64
done
log ""
log "gpu-check: $([ "$failed" -eq 0 ] && echo "all steps passed" || echo "a step failed"); output in $out"
exit "$failed"
