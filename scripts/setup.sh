#!/usr/bin/env bash
# Installs the Debian packages nos needs, only those missing (does nothing when all are present).
set -euo pipefail

packages=(
  cmake ninja-build g++
  libtorch-dev libboost-program-options-dev libyaml-cpp-dev libgtest-dev
  zlib1g-dev libsqlite3-dev libsleef-dev libjpeg62-turbo-dev
  dataset-fashion-mnist python3-torch gnuplot-nox
  libopenmpi-dev openmpi-bin
  # OpenBLAS, OpenMP build (its threads follow LibTorch's thread count): with it installed, Debian's alternatives
  # give LibTorch's matrix products OpenBLAS instead of the reference BLAS (measured: nos learn's MLP episode 12 s →
  # 2.4 s).
  libopenblas0-openmp
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup: dpkg-query not found (not Debian?); make sure these are installed: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
