#!/bin/sh
# tandem explore end to end on a small cost-model space: a direct run, the same search through
# ask/eval/tell, resumed after a kill, and under mpirun, all give the same evaluations; bad
# journals and spaces are refused with clear errors and nothing is lost.
# usage: explore_cli_test.sh TANDEM SOURCE_DIR
set -u
T="$1"
SRC="$2"
cd "$SRC" || exit 1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
SPACE=tests/fixtures/spaces/tiny.yaml
fail=0
check() { # description, command...
    d="$1"
    shift
    if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fail=1; fi
}
evals() { grep '"type":"eval"' "$1" | sed 's/"layers".*//'; }
endline() { grep '"type":"end"' "$1" | sed 's/,"seconds".*//'; }

"$T" explore "$SPACE" --journal "$W/direct.jsonl" --report "$W/direct.html" --quiet > "$W/direct.out"
check "direct run exits 0 and prints the Pareto designs" grep -q "Pareto designs meeting" "$W/direct.out"
check "journal has a header, 200 evaluations and an end line" \
    test "$(head -1 "$W/direct.jsonl" | grep -c '"type":"header"')$(grep -c '"type":"eval"' "$W/direct.jsonl")$(grep -c '"type":"end"' "$W/direct.jsonl")" = "12001"
check "report written" test -s "$W/direct.html"

# the same seed twice: the same journal
"$T" explore "$SPACE" --journal "$W/again.jsonl" --report none --quiet > /dev/null
check "same seed, same evaluations" test "$(evals "$W/direct.jsonl")" = "$(evals "$W/again.jsonl")"
"$T" explore "$SPACE" --seed 9 --journal "$W/seed9.jsonl" --report none --quiet > /dev/null
check "another seed, other evaluations" test "$(evals "$W/direct.jsonl")" != "$(evals "$W/seed9.jsonl")"

# killed after 73 evaluations, mid-line: resume loses nothing and repeats nothing
head -74 "$W/direct.jsonl" > "$W/killed.jsonl"
sed -n 75p "$W/direct.jsonl" | cut -c1-40 | tr -d '\n' >> "$W/killed.jsonl"
"$T" explore "$SPACE" --journal "$W/killed.jsonl" --resume --report none --quiet > "$W/resume.out"
check "resume reads back 73 evaluations" grep -q "(73 from the journal)" "$W/resume.out"
check "resumed journal = uninterrupted journal" test "$(evals "$W/direct.jsonl")" = "$(evals "$W/killed.jsonl")"
check "resumed front = uninterrupted front" test "$(endline "$W/direct.jsonl")" = "$(endline "$W/killed.jsonl")"
"$T" explore "$SPACE" --journal "$W/killed.jsonl" --resume --budget 260 --report none --quiet > /dev/null
check "resume with a larger budget continues the run" test "$(grep -c '"type":"eval"' "$W/killed.jsonl")" = 260

# ask / eval / tell
for i in $(seq 1 30); do
    "$T" explore ask "$SPACE" --journal "$W/at.jsonl" -o "$W/pts.jsonl" > "$W/ask.out" || break
    grep -q "complete" "$W/ask.out" && break
    n=$(wc -l < "$W/pts.jsonl")
    rm -f "$W"/res_*.jsonl
    j=0
    while [ "$j" -lt "$n" ]; do # one "array task" per design
        "$T" explore eval "$SPACE" "$W/pts.jsonl" --index "$j" -o "$W/res_$j.jsonl" || break
        j=$((j + 1))
    done
    "$T" explore tell "$SPACE" --journal "$W/at.jsonl" "$W"/res_*.jsonl > /dev/null || break
done
check "ask/eval/tell completes" grep -q "complete" "$W/ask.out"
check "ask/eval/tell = direct run" test "$(evals "$W/direct.jsonl")" = "$(evals "$W/at.jsonl")"
check "ask/eval/tell front = direct front" test "$(endline "$W/direct.jsonl")" = "$(endline "$W/at.jsonl")"

# MPI: rank 0 searches, two workers evaluate
if command -v mpirun > /dev/null && "$T" version > /dev/null; then
    ASAN_OPTIONS=detect_leaks=0 mpirun -x ASAN_OPTIONS --allow-run-as-root --oversubscribe -n 3 "$T" explore "$SPACE" --journal "$W/mpi.jsonl" \
        --report none --quiet > "$W/mpi.out" 2>&1
    if grep -q "MPI worker ranks" "$W/mpi.out"; then
        check "mpirun -n 3 = one process" test "$(evals "$W/direct.jsonl")" = "$(evals "$W/mpi.jsonl")"
        check "mpirun front = one-process front" test "$(endline "$W/direct.jsonl")" = "$(endline "$W/mpi.jsonl")"
    elif [ "${TD_REQUIRE_MPI:-0}" = 1 ]; then
        echo "FAIL mpirun run did not use MPI workers (built without Open MPI?)"
        cat "$W/mpi.out"
        fail=1
    else
        echo "skip mpirun (this build has no Open MPI)"
    fi
elif [ "${TD_REQUIRE_MPI:-0}" = 1 ]; then
    echo "FAIL mpirun not found"
    fail=1
fi

# bad input: clear errors, nothing lost
cp "$W/direct.jsonl" "$W/keep.jsonl"
"$T" explore "$SPACE" --journal "$W/keep.jsonl" --report none --quiet > /dev/null 2> "$W/err"
check "an existing journal is not overwritten without --resume" grep -q "use.*--resume\|with --resume" "$W/err"
check "... and is left unchanged" cmp -s "$W/direct.jsonl" "$W/keep.jsonl"
sed 's/budget: 200/budget: 201/' "$SPACE" > "$W/other.yaml"
"$T" explore "$W/other.yaml" --journal "$W/keep.jsonl" --resume --report none --quiet > /dev/null 2> "$W/err"
check "a journal from another space is refused" grep -q "different design space" "$W/err"
check "... and is left unchanged" cmp -s "$W/direct.jsonl" "$W/keep.jsonl"
"$T" explore "$SPACE" --journal "$W/keep.jsonl" --resume --seed 5 --report none --quiet > /dev/null 2> "$W/err"
check "a journal of another seed is refused" grep -q "differs from the one asked for" "$W/err"
cat > "$W/none.yaml" << 'YAML'
name: nothing-fits
model: models/mnist_cnn.onnx
accuracy: none
groups:
  - {name: all, match: "*", weights: [int8, int4:g32]}
hardware: {template: systolic, clock_mhz: 100, dram_gbps: 1, rows: [4, 8], cols: 4, dataflow: ws,
           ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8}
spec:
  limits: {latency_ms: {max: 0.000001}}
  objectives: [{minimize: latency_ms}, {minimize: energy_uj}]
search: {algo: exhaustive, budget: 100}
YAML
"$T" explore "$W/none.yaml" --journal "$W/none.jsonl" --report "$W/none.html" --quiet > "$W/none.out"
check "no feasible design: said, with the closest designs" grep -q "no design meets" "$W/none.out"
check "exhaustive search of 4 designs evaluates 4" test "$(grep -c '"type":"eval"' "$W/none.jsonl")" = 4
printf 'name: x\nmodel: m.onnx\ngroups: [{name: a, match: "*", weights: [int8, int4]}]\nhardware: {template: systolic, clock_mhz: 1, dram_gbps: 1, rows: [4, 8], cols: 4, dataflow: ws, ifmap_kb: 8, filter_kb: 8, ofmap_kb: 8, wires: 3}\nspec: {objectives: [{minimize: latency_ms}]}\naccuracy: none\n' > "$W/bad.yaml"
"$T" explore "$W/bad.yaml" --journal "$W/bad.jsonl" --quiet > /dev/null 2> "$W/err"
check "unknown knob: file, line and field named" grep -q "bad.yaml:4: accelerator 'hw': unknown field 'wires'" "$W/err"
check "... and no journal is created" test ! -e "$W/bad.jsonl"
"$T" explore "$SPACE" --budget 0 > /dev/null 2>&1
check "absurd budget is a usage error" test $? = 2
exit $fail
