#!/bin/sh
# Sets up, builds a release build and runs the main job: `tandem bench kernels`.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTD_BUILD_TESTS=OFF >/dev/null
cmake --build build/release
exec build/release/tandem bench kernels "$@"
