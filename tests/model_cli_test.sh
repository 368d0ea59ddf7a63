#!/bin/sh
# The model commands end to end on the bundled CNN: info, run, eval, compress and the
# compressed file loaded back; and their errors for bad input.
# Usage: model_cli_test.sh path/to/tandem source_dir
set -u
T=$1
SRC=$2
M=$SRC/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # description, then a command that must succeed
    desc=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then
        echo "ok: $desc"
    else
        echo "FAIL: $desc"
        cat "$tmp/out" "$tmp/err"
        fails=$((fails + 1))
    fi
}

expect_fail() { # description, expected exit code, message fragment, command...
    desc=$1 code=$2 frag=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -q -- "$frag" "$tmp/err"; then
        echo "ok: $desc"
    else
        echo "FAIL: $desc (exit $rc, wanted $code with '$frag')"
        cat "$tmp/err"
        fails=$((fails + 1))
    fi
}

# info: BN folded into the convs, MACs, the memory plan within 1.1x of its lower bound.
check "info lists the bundled CNN" "$T" info "$M/mnist_cnn.onnx"
grep -q "Conv" "$tmp/out" || { echo "FAIL: info shows no Conv"; fails=$((fails + 1)); }
if grep -q "BatchNormalization" "$tmp/out"; then
    echo "FAIL: BatchNormalization was not folded"
    fails=$((fails + 1))
fi
ratio=$(sed -n 's/.*lower bound [0-9]* bytes (\([0-9.]*\)x).*/\1/p' "$tmp/out")
if [ -n "$ratio" ] && awk "BEGIN{exit !($ratio <= 1.1)}"; then
    echo "ok: planned peak within 1.1x of the lower bound ($ratio)"
else
    echo "FAIL: memory plan ratio '$ratio'"
    fails=$((fails + 1))
fi
check "info at batch 32" "$T" info "$M/mnist_cnn.onnx" --batch 32

# eval: the f32 accuracy recorded when the model was trained (onnxruntime: 980/1000).
check "eval f32" "$T" eval "$M/mnist_cnn.onnx" --data "$M/mnist_test.safetensors"
grep -q "(980/1000)" "$tmp/out" || {
    echo "FAIL: f32 accuracy is not 980/1000: $(cat "$tmp/out")"
    fails=$((fails + 1))
}

# run: writes outputs atomically.
check "run on 256 samples" "$T" run "$M/mnist_cnn.onnx" --input "$M/mnist_calib.safetensors" \
    --output "$tmp/logits.safetensors"
[ -s "$tmp/logits.safetensors" ] || { echo "FAIL: no output file"; fails=$((fails + 1)); }

# compress -> file -> eval and info read it back.
check "compress w8a8" "$T" compress "$M/mnist_cnn.onnx" --preset w8a8 \
    --calib "$M/mnist_calib.safetensors" -o "$tmp/w8a8.safetensors"
check "eval the compressed file" "$T" eval "$tmp/w8a8.safetensors" \
    --data "$M/mnist_test.safetensors"
acc=$(sed -n 's/accuracy: \([0-9.]*\).*/\1/p' "$tmp/out")
if [ -n "$acc" ] && awk "BEGIN{exit !($acc >= 0.975)}"; then
    echo "ok: w8a8 accuracy $acc within 0.5 point of 0.980"
else
    echo "FAIL: w8a8 accuracy '$acc'"
    fails=$((fails + 1))
fi
check "info on the compressed file" "$T" info "$tmp/w8a8.safetensors"
grep -q "int8" "$tmp/out" || { echo "FAIL: info shows no int8 layer"; fails=$((fails + 1)); }

cat >"$tmp/scheme.json" <<'EOF'
{"name": "mixed", "a8_budget": 0.5,
 "layers": [{"match": "*", "op": "Gemm", "weights": "int8", "act": "a8"},
            {"match": "*", "weights": "int6:g32", "act": "auto"}]}
EOF
check "compress with a scheme file" "$T" compress "$M/mnist_cnn.onnx" --scheme "$tmp/scheme.json" \
    --calib "$M/mnist_calib.safetensors" -o "$tmp/mixed.safetensors"
grep -q "a6" "$tmp/out" || { echo "FAIL: auto chose no a6 layer"; fails=$((fails + 1)); }

# Bad input.
expect_fail "missing model" 1 "no such file" "$T" info "$tmp/none.onnx"
printf 'garbage' >"$tmp/bad.onnx"
expect_fail "garbage ONNX" 1 "bad.onnx" "$T" info "$tmp/bad.onnx"
head -c 20000 "$M/mnist_cnn.onnx" >"$tmp/trunc.onnx"
expect_fail "truncated ONNX" 1 "trunc.onnx" "$T" info "$tmp/trunc.onnx"
expect_fail "unknown preset" 2 "unknown preset" "$T" compress "$M/mnist_cnn.onnx" --preset w3a3 \
    --calib "$M/mnist_calib.safetensors" -o "$tmp/x.safetensors"
echo '{"layers": [{"match": "*", "weights": "int5"}]}' >"$tmp/bad_scheme.json"
expect_fail "bad scheme format" 2 "int5" "$T" compress "$M/mnist_cnn.onnx" \
    --scheme "$tmp/bad_scheme.json" --calib "$M/mnist_calib.safetensors" -o "$tmp/x.safetensors"
echo '{"layers": [{"match": "*", "weights": "int8", "colour": "red"}]}' >"$tmp/bad_key.json"
expect_fail "unknown scheme key" 2 "colour" "$T" compress "$M/mnist_cnn.onnx" \
    --scheme "$tmp/bad_key.json" --calib "$M/mnist_calib.safetensors" -o "$tmp/x.safetensors"
[ ! -e "$tmp/x.safetensors" ] || { echo "FAIL: output written after an error"; fails=$((fails + 1)); }
expect_fail "eval without labels" 2 "no labels" "$T" eval "$M/mnist_cnn.onnx" \
    --data "$M/mnist_calib.safetensors"
expect_fail "eval on a file without samples" 2 "no tensor named 'x'" "$T" eval \
    "$M/mnist_cnn.onnx" --data "$tmp/logits.safetensors"
expect_fail "unknown option" 2 "unknown option" "$T" run "$M/mnist_cnn.onnx" --colour red
expect_fail "run without input" 2 "--input" "$T" run "$M/mnist_cnn.onnx"
head -c 3000 "$tmp/w8a8.safetensors" >"$tmp/trunc.safetensors"
expect_fail "truncated model file" 1 "trunc.safetensors" "$T" info "$tmp/trunc.safetensors"
expect_fail "a data file is not a model" 1 "not a Tandem model" "$T" info \
    "$M/mnist_test.safetensors"

echo "model cli: $fails failures"
[ "$fails" -eq 0 ]
