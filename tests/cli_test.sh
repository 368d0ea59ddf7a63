#!/bin/sh
# Behaviour of the command-line tool: exit codes 0/1/2 and errors that name the problem.
T="$1"
fail=0
expect() { # expected-code description command...
    want=$1; shift; what=$1; shift
    "$@" >/tmp/td_cli_out.$$ 2>&1; got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, expected $want"; cat /tmp/td_cli_out.$$; fail=1
    else
        echo "ok: $what"
    fi
}
expect_msg() { # needle description command...
    needle=$1; shift; what=$1; shift
    "$@" >/tmp/td_cli_out.$$ 2>&1
    if ! grep -q -- "$needle" /tmp/td_cli_out.$$; then
        echo "FAIL: $what: output lacks '$needle'"; cat /tmp/td_cli_out.$$; fail=1
    else
        echo "ok: $what"
    fi
}
expect 0 "help" "$T" help
expect 0 "--help" "$T" --help
expect 2 "no command" "$T"
expect 2 "unknown command" "$T" frobnicate
expect_msg "frobnicate" "unknown command is named" "$T" frobnicate
expect 0 "version" "$T" version
expect 0 "cpu" "$T" cpu
expect 0 "bench --help" "$T" bench --help
expect 0 "formats --help" "$T" formats --help
expect 0 "help formats" "$T" help formats
expect 2 "formats bad spec" "$T" formats int5
expect_msg "int5" "bad format is named" "$T" formats int5
expect 2 "formats bad option" "$T" formats --rows 0
expect_msg "--rows" "bad option is named" "$T" formats --rows 0
expect 2 "formats group 0 for N>=M" "$T" formats int8:4:4
expect 0 "formats int8 runs" "$T" formats --rows 16 --cols 100 int8
# Hardware descriptions: the bundled ones list, a bad file is named with its line.
SRC=$(cd "$(dirname "$0")/.." && pwd)
expect 0 "hw list" "$T" hw list "$SRC/examples/hw"
expect_msg "systolic-32x32" "hw list names the bundled designs" "$T" hw list "$SRC/examples/hw"
expect 0 "hw show" "$T" hw show "$SRC/examples/hw/hetero_big_little.yaml"
printf 'name: x\ntemplate: systolic\nrows: 0\n' >/tmp/td_hw_bad.$$.yaml
expect 1 "hw show rejects a bad file" "$T" hw show /tmp/td_hw_bad.$$.yaml
expect_msg "td_hw_bad.$$.yaml:3: field 'rows'" "bad hw file names file, line, field" "$T" hw show /tmp/td_hw_bad.$$.yaml
rm -f /tmp/td_hw_bad.$$.yaml
expect 2 "hw without a verb" "$T" hw
expect 2 "hw measure without -o" "$T" hw measure
expect 0 "hw measure writes a cpu description" "$T" hw measure -o /tmp/td_cpu.$$.yaml
expect_msg "template: cpu" "measured description is a cpu" cat /tmp/td_cpu.$$.yaml
expect 0 "measured description loads" "$T" hw show /tmp/td_cpu.$$.yaml
rm -f /tmp/td_cpu.$$.yaml
# Forced-ISA mode: TANDEM_ISA lowers the kernels' instruction set.
expect_msg "chosen:   scalar" "TANDEM_ISA=scalar is honoured" env TANDEM_ISA=scalar "$T" cpu
if "$T" cpu | grep -q "best isa: avx"; then
    expect_msg "chosen:   avx2" "TANDEM_ISA=avx2 is honoured" env TANDEM_ISA=avx2 "$T" cpu
fi
rm -f /tmp/td_cli_out.$$
exit $fail
