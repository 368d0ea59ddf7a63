#!/bin/sh
# `tandem bench kernels` end to end on tiny shapes (--quick): it runs, prints the four
# ratio sections, writes valid JSON atomically, and rejects bad options with exit 2.
# Usage: tests/bench_test.sh path/to/tandem
T="$1"
if [ -z "$T" ] || [ ! -x "$T" ]; then
    echo "usage: $0 path/to/tandem"; exit 2
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/td_bench_test.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

expect_code() { # code description command...
    want=$1; shift; what=$1; shift
    "$@" >"$dir/out" 2>"$dir/err"; got=$?
    if [ "$got" = "$want" ]; then ok "$what"; else
        bad "$what: exit $got, expected $want"; cat "$dir/out" "$dir/err"; fi
}
expect_in() { # needle file description
    if grep -q -- "$1" "$2"; then ok "$3"; else bad "$3: '$1' missing"; cat "$2"; fi
}

# A whole quick run, with JSON written to a file.
expect_code 0 "bench kernels --quick runs" "$T" bench kernels --quick --json "$dir/r.json"
cp "$dir/out" "$dir/quick.out"
expect_in "read bandwidth" "$dir/quick.out" "report shows the measured read bandwidth"
expect_in "^cpu " "$dir/quick.out" "report names the CPU"
expect_in "commit" "$dir/quick.out" "report names the commit"
for sec in "(a) GEMV weight traffic" "(b) sparse over dense" "(c) W8A8 GEMM over oneDNN" \
           "(d) dense f32 over OpenBLAS"; do
    expect_in "$sec" "$dir/quick.out" "ratio section $sec"
done
# f32 always works (it is OpenBLAS), so at least the (d) line carries a verdict.
expect_in "f32 256x1024 b1 t1 .*target .*\(PASS\|BELOW\)" "$dir/quick.out" \
    "f32 over OpenBLAS line has figure, target and verdict"
expect_in "f32  *f32 *1 " "$dir/quick.out" "table has the f32 row"
if grep -q "\[[0-9]*/[0-9]*\]" "$dir/quick.out"; then
    bad "progress lines leaked into stdout"
else
    ok "progress stays off stdout"
fi
expect_in "\[[0-9]*/[0-9]*\]" "$dir/err" "progress shown on stderr"

# The JSON file: present, complete, no temporary left behind.
if [ -s "$dir/r.json" ]; then ok "JSON file written"; else bad "JSON file missing"; fi
for key in '"cpu"' '"isa"' '"commit"' '"date"' '"bandwidth"' '"measurements"' '"ratios"' \
           '"target"' '"wall_s"'; do
    expect_in "$key" "$dir/r.json" "JSON has $key"
done
if ls "$dir" | grep -q '\.tmp\.'; then bad "temporary JSON file left behind"; else
    ok "no temporary file left"; fi
if command -v python3 >/dev/null 2>&1; then
    if python3 -m json.tool "$dir/r.json" >/dev/null; then ok "JSON parses (python3)"; else
        bad "JSON does not parse"; fi
fi

# --json - : JSON on stdout, the report on stderr.
expect_code 0 "--json - runs" "$T" bench kernels --quick --formats f32,int8/a8 --reps 2 --json -
expect_in '"measurements"' "$dir/out" "--json - writes JSON to stdout"
expect_in "read bandwidth" "$dir/err" "--json - moves the report to stderr"
if command -v python3 >/dev/null 2>&1; then
    if python3 -m json.tool "$dir/out" >/dev/null; then ok "stdout JSON parses"; else
        bad "stdout JSON does not parse"; cat "$dir/out"; fi
fi

# Unwritable JSON path: failure (1), nothing half-written.
expect_code 1 "unwritable --json path fails" \
    "$T" bench kernels --quick --formats f32 --reps 1 --json "$dir/no/such/dir/r.json"
expect_in "no/such/dir" "$dir/err" "the failing path is named"

# Usage errors: exit 2 with the offending option named.
expect_code 2 "bench without subject" "$T" bench
expect_code 2 "unknown subject" "$T" bench frobnicate
expect_in "frobnicate" "$dir/err" "unknown subject is named"
expect_code 2 "unknown option" "$T" bench kernels --frobnicate
expect_in "\-\-frobnicate" "$dir/err" "unknown option is named"
expect_code 2 "--threads 0" "$T" bench kernels --threads 0
expect_in "\-\-threads" "$dir/err" "--threads is named"
expect_code 2 "--reps abc" "$T" bench kernels --reps abc
expect_in "\-\-reps" "$dir/err" "--reps is named"
expect_code 2 "--min-time -1" "$T" bench kernels --min-time -1
expect_in "\-\-min-time" "$dir/err" "--min-time is named"
expect_code 2 "--formats with a bad format" "$T" bench kernels --formats int8,int5
expect_in "int5" "$dir/err" "bad format is named"
expect_code 2 "--formats with a bad activation" "$T" bench kernels --formats int8/a3
expect_in "a3" "$dir/err" "bad activation is named"
expect_code 2 "--json without a file" "$T" bench kernels --json
expect_code 2 "--full with --quick" "$T" bench kernels --full --quick
expect_code 0 "bench kernels --help" "$T" bench kernels --help
expect_in "\-\-quick" "$dir/out" "help lists --quick"

# The co-design operator benches on tiny shapes: they run and print their ratios.
expect_code 0 "bench deform --quick --no-peer" "$T" bench deform --quick --no-peer --reps 1
expect_in "dense" "$dir/out" "deform bench compares with our dense conv"
expect_code 0 "bench moe --quick" "$T" bench moe --quick --runs 1
expect_in "expert" "$dir/out" "moe bench reports expert-major vs token-major"
SRC=$(cd "$(dirname "$0")/.." && pwd)
expect_code 0 "bench moo --seeds 1" "$T" bench moo --seeds 1 --fixtures "$SRC/tests/fixtures/pymoo"
expect_in "zdt1" "$dir/out" "moo bench compares with pymoo on ZDT1"
expect_code 0 "bench attention --quick --no-peer" "$T" bench attention --quick --no-peer
expect_in "dense" "$dir/out" "attention bench reports the dense path"
expect_code 2 "bench attention bad option" "$T" bench attention --frobnicate
expect_code 2 "bench deform bad option" "$T" bench deform --frobnicate
expect_code 2 "bench moe bad option" "$T" bench moe --frobnicate

exit $fail
