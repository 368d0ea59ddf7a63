#!/bin/sh
# Sets up, builds a release build and runs the main job on the bundled default model and
# hardware: `tandem explore` searches the MNIST CNN's compression choices together with a
# systolic array's shape, buffers, dataflow and clock (examples/spaces/cnn_systolic.yaml)
# under the default spec, prints the Pareto designs and writes the journal and HTML report
# under runs/.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTD_BUILD_TESTS=OFF >/dev/null
cmake --build build/release
# Passive OpenMP workers: otherwise idle ones spin and starve the peers' (OpenBLAS,
# oneDNN) own threads, which would flatter Tandem's ratios against them.
export OMP_WAIT_POLICY=passive
exec build/release/tandem explore "$@"
