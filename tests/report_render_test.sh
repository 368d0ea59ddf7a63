#!/bin/sh
# tandem report in a real browser: headless Chromium must parse the pages into the DOM we wrote
# (one SVG per plot, the Pareto rows, the per-layer blocks, journal text as text) and paint a
# non-trivial screenshot of a report of a few hundred generated evaluations.
# Before that, without a browser: the command's exit codes and errors.
# usage: report_render_test.sh TANDEM SOURCE_DIR
# Without Chromium the browser part is skipped (exit 77, unless the command checks failed), or
# fails when TD_REQUIRE_CHROMIUM=1.
# TD_REPORT_KEEP=DIR keeps the screenshot and the generated report there, to look at.
T="$1"
SRC="$2"
FIX="$SRC/tests/fixtures/explore"

TMP=$(mktemp -d /tmp/td_report_render.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0

expect_exit() { # code description command...
    want=$1
    shift
    what=$1
    shift
    "$@" >"$TMP/cli.log" 2>&1
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, expected $want"
        cat "$TMP/cli.log"
        fail=1
    else
        echo "ok: $what"
    fi
}
expect_exit 0 "report --help" "$T" report --help
expect_exit 2 "report without arguments" "$T" report
expect_exit 2 "report without -o" "$T" report "$FIX/small.jsonl"
expect_exit 2 "report with an unknown option" \
    "$T" report "$FIX/small.jsonl" --bogus -o "$TMP/x.html"
expect_exit 2 "report over its own journal" "$T" report "$FIX/small.jsonl" -o "$FIX/small.jsonl"
expect_exit 1 "report of a journal with NaN" "$T" report "$FIX/bad_nan.jsonl" -o "$TMP/x.html"
if ! grep -q "bad_nan.jsonl:3: NaN" "$TMP/cli.log"; then
    echo "FAIL: the NaN error does not name file and line"
    cat "$TMP/cli.log"
    fail=1
fi
expect_exit 1 "report of a missing journal" "$T" report "$TMP/none.jsonl" -o "$TMP/x.html"
if [ -e "$TMP/x.html" ]; then
    echo "FAIL: a failed report left $TMP/x.html"
    fail=1
fi
expect_exit 0 "report of a stopped run" "$T" report "$FIX/stopped.jsonl" -o "$TMP/x.html"
if ! grep -q "stopped before the end" "$TMP/x.html"; then
    echo "FAIL: the stopped run is not called stopped"
    fail=1
fi

CHROMIUM=${TD_CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for c in chromium chromium-browser google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then
            CHROMIUM=$(command -v "$c")
            break
        fi
    done
fi
if [ -z "$CHROMIUM" ]; then
    if [ "${TD_REQUIRE_CHROMIUM:-0}" = 1 ]; then
        echo "FAIL: chromium not found and TD_REQUIRE_CHROMIUM=1"
        exit 1
    fi
    [ $fail = 0 ] || exit 1
    echo "SKIP: chromium not found (set TD_CHROMIUM or install the chromium package)"
    exit 77
fi

browse() { # chromium options... (its own profile, so no state is shared with a user's)
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$TMP/profile" --hide-scrollbars "$@" 2>>"$TMP/chromium.log"
}
occurrences() { # needle file
    grep -o -- "$1" "$2" | wc -l | tr -d ' '
}
expect_count() { # want needle file description
    got=$(occurrences "$2" "$3")
    if [ "$got" != "$1" ]; then
        echo "FAIL: $4: $got x '$2', expected $1"
        fail=1
    else
        echo "ok: $4"
    fi
}
expect_none() { # needle file description
    expect_count 0 "$1" "$2" "$3"
}
report() { # journal html
    if ! "$T" report "$1" -o "$2" >"$TMP/report.log" 2>&1; then
        echo "FAIL: tandem report $1"
        cat "$TMP/report.log"
        exit 1
    fi
}
dom() { # html dom
    if ! browse --dump-dom "file://$1" >"$2" || [ ! -s "$2" ]; then
        echo "FAIL: chromium could not load $1"
        tail -20 "$TMP/chromium.log"
        exit 1
    fi
}

# 1. The hand-made journal: exactly its four Pareto designs, three plots, the limits.
report "$FIX/small.jsonl" "$TMP/small.html"
dom "$TMP/small.html" "$TMP/small.dom"
expect_count 3 '<svg' "$TMP/small.dom" "three plots in the DOM"
expect_count 4 '<tr class="front"' "$TMP/small.dom" "four Pareto rows in the DOM"
for n in 7 9 4 3; do
    expect_count 1 "<tr class=\"front\"><td class=\"num\">$n</td>" "$TMP/small.dom" \
        "Pareto row n=$n"
done
expect_count 2 '<polyline' "$TMP/small.dom" "fronts joined (design 3 alone in energy-latency)"
expect_count 7 '<line class="limit"' "$TMP/small.dom" "dashed limits and their legend marks"
expect_count 4 '<details' "$TMP/small.dom" "per-layer blocks"
expect_none '<script' "$TMP/small.dom" "no script element"

# 2. Journal text stays text once a browser has parsed it.
report "$FIX/inject.jsonl" "$TMP/inject.html"
dom "$TMP/inject.html" "$TMP/inject.dom"
expect_none '<img' "$TMP/inject.dom" "no img element from a knob value"
expect_none '<script' "$TMP/inject.dom" "no script element from a layer name"
expect_count 1 '&lt;img src=x onerror=alert(1)&gt;' "$TMP/inject.dom" "knob value shown as text"

# 3. A few hundred generated evaluations, painted.
LC_ALL=C awk 'BEGIN {
    srand(11)
    printf "{\"type\":\"header\",\"tandem\":\"0.1.0\",\"space_file\":\"generated.yaml\",";
    printf "\"algo\":\"nsga2\",\"seed\":11,\"budget\":400,\"accuracy\":\"proxy\",";
    printf "\"model\":\"models/mnist_cnn.onnx\",\"knobs\":[{\"name\":\"weights\",\"kind\":";
    printf "\"algorithm\"},{\"name\":\"sparsity\",\"kind\":\"algorithm\"},{\"name\":\"hw.rows\",";
    printf "\"kind\":\"hardware\"}],\"metrics\":[\"accuracy\",\"latency_ms\",\"energy_uj\",";
    printf "\"area_mm2\"],\"objectives\":[{\"metric\":\"accuracy\",\"sense\":\"max\"},";
    printf "{\"metric\":\"latency_ms\",\"sense\":\"min\"},{\"metric\":\"energy_uj\",";
    printf "\"sense\":\"min\"}],\"constraints\":[{\"metric\":\"accuracy\",\"op\":\">=\",";
    printf "\"value\":0.965},{\"metric\":\"latency_ms\",\"op\":\"<=\",\"value\":1.5}]}\n";
    split("f32 int8 int4:g32", fmt, " "); split("none 2:4", sp, " "); split("8 16 32", rw, " ")
    bits[1] = 32; bits[2] = 8; bits[3] = 4
    feas = 0
    for (i = 0; i < 400; i++) {
        w = 1 + int(rand() * 3); s = 1 + int(rand() * 2); r = 1 + int(rand() * 3)
        acc = 0.988 - (w == 3 ? 0.008 : w == 2 ? 0.001 : 0) - (s == 2 ? 0.012 : 0) - rand() * 0.012
        speed = rw[r] / 8
        lat = 3.2 / speed * (0.25 + bits[w] / 32 * 0.75) * (s == 2 ? 0.7 : 1) * (0.8 + rand() * 0.5)
        en = 380 * (0.2 + bits[w] / 32 * 0.8) * (s == 2 ? 0.75 : 1) * (0.85 + rand() * 0.4)
        en += 15 * speed
        area = 0.35 + 0.05 * speed * speed
        base_lat = 3.2 / speed; base_en = 380 + 15 * speed
        viol = (acc < 0.965 ? 0.965 - acc : 0) + (lat > 1.5 ? lat - 1.5 : 0)
        printf "{\"type\":\"eval\",\"n\":%d,\"design\":{\"weights\":\"%s\",", i, fmt[w]
        printf "\"sparsity\":\"%s\",", sp[s]
        printf "\"hw.rows\":%d},\"metrics\":{\"accuracy\":%.4f,", rw[r], acc
        printf "\"latency_ms\":%.4f,", lat
        printf "\"energy_uj\":%.2f,\"area_mm2\":%.3f},", en, area
        printf "\"baseline\":{\"accuracy\":0.988,"
        printf "\"latency_ms\":%.4f,\"energy_uj\":%.2f,", base_lat, base_en
        printf "\"area_mm2\":%.3f},", area
        printf "\"feasible\":%s,", (viol > 0 ? "false" : "true")
        printf "\"violation\":%.4f,\"layers\":[", viol
        for (l = 1; l <= 2; l++)
            printf "{\"name\":\"conv%d\",\"format\":\"%s\",\"act\":\"a8\",\"sparsity\":\"none\"},", l, fmt[w]
        printf "{\"name\":\"fc1\",\"format\":\"int8\",\"act\":\"a8\",\"sparsity\":\"%s\"}]}\n", sp[s]
        feas += (viol > 0) ? 0 : 1
    }
    printf "{\"type\":\"end\",\"evals\":400,\"feasible\":%d,", feas
    printf "\"hypervolume\":0.5123,\"seconds\":4.2}\n"
}' >"$TMP/generated.jsonl"
report "$TMP/generated.jsonl" "$TMP/generated.html"
rows=$(occurrences '<tr class="front"' "$TMP/generated.html")
dom "$TMP/generated.html" "$TMP/generated.dom"
expect_count 3 '<svg' "$TMP/generated.dom" "three plots of the generated run"
expect_count "$rows" '<tr class="front"' "$TMP/generated.dom" "every Pareto row survives parsing"
if [ "$rows" -lt 3 ]; then
    echo "FAIL: only $rows Pareto designs in the generated run"
    fail=1
fi
browse --window-size=1280,2200 --screenshot="$TMP/shot.png" "file://$TMP/generated.html" \
    >/dev/null
size=$(wc -c <"$TMP/shot.png" 2>/dev/null || echo 0)
magic=$(od -An -c -N4 "$TMP/shot.png" 2>/dev/null | tr -d ' ')
# A blank 1280x2200 page compresses to a few KB; plots, text and a table take far more.
if [ "$magic" != "211PNG" ] || [ "$size" -lt 60000 ]; then
    echo "FAIL: screenshot missing or blank ($size bytes, magic '$magic')"
    fail=1
else
    echo "ok: screenshot of $size bytes"
fi
if [ -n "${TD_REPORT_KEEP:-}" ]; then
    mkdir -p "$TD_REPORT_KEEP" && cp "$TMP/shot.png" "$TMP/generated.html" "$TD_REPORT_KEEP/"
fi
exit $fail
