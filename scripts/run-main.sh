#!/bin/sh
# Sets up, builds a release build and runs the main job on the bundled default model:
# `tandem bench cnn` compresses the MNIST CNN with every preset (calibrated on its
# calibration split) and reports held-out accuracy against f32.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTD_BUILD_TESTS=OFF >/dev/null
cmake --build build/release
# Passive OpenMP workers: otherwise idle ones spin and starve the peers' (OpenBLAS,
# oneDNN) own threads, which would flatter Tandem's ratios against them.
export OMP_WAIT_POLICY=passive
exec build/release/tandem bench cnn "$@"
