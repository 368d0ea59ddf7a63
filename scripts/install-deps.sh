#!/bin/sh
# Installs the Debian packages Tandem needs to build, test and benchmark.
# Safe to run repeatedly; skips apt when everything is already present.
set -e
PKGS="build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev \
libopenblas-dev libdnnl-dev libcjson-dev libyaml-dev libcmocka-dev git \
protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata python3 python3-pip \
libopenmpi-dev openmpi-bin chromium"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
