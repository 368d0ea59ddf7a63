#!/bin/sh
# Builds a tiny consumer against an installed Tandem, once through pkg-config and once
# through the CMake package, and runs it.
set -e
DIR=$(cd "$1" && pwd)
PREFIX=$DIR/prefix
mkdir -p "$DIR/consumer"
cat > "$DIR/consumer/main.c" <<'C'
#include <stdio.h>
#include <tandem/tandem.h>
int main(void)
{
    td_qspec spec = td_qspec_default(TD_F32);
    float w[6] = {1, 2, 3, 4, 5, 6}, x[3] = {1, 1, 1}, y[2];
    td_qmatrix *q;
    td_status st = td_qmatrix_quantize(&spec, w, 2, 3, 3, &q);
    if (!st) {
        td_ctx ctx = td_ctx_default();
        st = td_gemm(&ctx, q, TD_ACT_F32, x, 1, y);
        td_qmatrix_free(q);
    }
    if (st) {
        printf("error: %s\n", td_status_message(st));
        return 1;
    }
    printf("%g %g\n", y[0], y[1]);
    return !(y[0] == 6 && y[1] == 15);
}
C
PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig cc -std=c11 "$DIR/consumer/main.c" -o "$DIR/consumer/pc" \
    $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --cflags --libs tandem)
"$DIR/consumer/pc"
cat > "$DIR/consumer/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(tandem REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE tandem::tandem)
C
cmake -S "$DIR/consumer" -B "$DIR/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$DIR/consumer/build" >/dev/null
"$DIR/consumer/build/consumer"
echo "install test passed"
