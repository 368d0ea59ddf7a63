#!/usr/bin/env python3
"""Generate tests/fixtures/scalesim/expected.csv: SCALE-Sim 3.0.0's per-layer report for every
topology in that folder, three array shapes and the three dataflows.

SCALE-Sim 3.0.0 calls int() on one-element arrays, which numpy >= 2 rejects, so run this with a
Python whose numpy is 1.x, e.g.
    python3 -m venv --system-site-packages /tmp/ssenv && /tmp/ssenv/bin/pip install scalesim 'numpy<2'
    /tmp/ssenv/bin/python tools/gen_scalesim_fixtures.py
The wheel ships no topology files, so the topologies here are small nets written for this test
(AlexNet's and MobileNet's kernel and stride patterns on small maps, a GEMM file, and odd shapes
that exercise SCALE-Sim's ceiling rule); SRAMs are large so that every operand fits.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures", "scalesim")
TOPOLOGIES = ["conv_small.csv", "alexnet_small.csv", "mobilenet_small.csv", "gemm.csv"]
ARRAYS = [(8, 8), (32, 32), (16, 64)]
DATAFLOWS = ["os", "ws", "is"]

CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    1024
FilterSramSzkB:   1024
OfmapSramSzkB:    1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {df}
Bandwidth : 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

COLUMNS = ["total_cycles", "stall_cycles", "overall_util", "mapping_eff", "compute_util",
           "ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes", "ifmap_dram_reads",
           "filter_dram_reads", "ofmap_dram_writes"]


def main():
    rows_out = ["topology,cfg,layer," + ",".join(COLUMNS)]
    for rows, cols in ARRAYS:
        for df in DATAFLOWS:
            name = "a%dx%d_%s" % (rows, cols, df)
            with open(os.path.join(FIX, name + ".cfg"), "w") as f:
                f.write(CFG.format(name=name, rows=rows, cols=cols, df=df))
    for topo in TOPOLOGIES:
        for rows, cols in ARRAYS:
            for df in DATAFLOWS:
                name = "a%dx%d_%s" % (rows, cols, df)
                cmd = [sys.executable, os.path.join(HERE, "run_scalesim.py"),
                       os.path.join(FIX, name + ".cfg"), os.path.join(FIX, topo)]
                if topo.startswith("gemm"):
                    cmd.append("--gemm")
                out = json.loads(subprocess.check_output(cmd))
                print(topo, name, "%.2fs" % out["seconds"], file=sys.stderr)
                for layer in out["layers"]:
                    vals = []
                    for c in COLUMNS:
                        v = layer[c]
                        vals.append(repr(v) if isinstance(v, float) else str(v))
                    rows_out.append("%s,%s,%s,%s" % (topo, name, layer["name"], ",".join(vals)))
    with open(os.path.join(FIX, "expected.csv"), "w") as f:
        f.write("\n".join(rows_out) + "\n")


if __name__ == "__main__":
    main()
