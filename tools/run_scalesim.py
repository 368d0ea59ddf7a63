#!/usr/bin/env python3
"""Run the `scalesim` PyPI package (3.0.0) on one config and topology and print its per-layer
report as JSON (one object per layer) plus the wall time, so Tandem's fixtures and its side-by-side
benchmark both read SCALE-Sim's own numbers rather than a re-derivation.

Usage: run_scalesim.py CONFIG.cfg TOPOLOGY.csv [--gemm]
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import time


def run(cfg_path, topo_path, gemm):
    from scalesim.scale_config import scale_config
    from scalesim.topology_utils import topologies
    from scalesim.layout_utils import layouts
    from scalesim.single_layer_sim import single_layer_sim

    conf = scale_config()
    conf.read_conf_file(cfg_path)
    topo = topologies()
    topo.load_arrays(topofile=topo_path, mnk_inputs=gemm)
    topo.topo_calc_hyperparams()
    lay = layouts()
    # The layout file only matters for custom SRAM layouts, which Tandem does not model.
    layers = []
    t0 = time.perf_counter()
    for i in range(topo.get_num_layers()):
        sim = single_layer_sim()
        sim.set_params(layer_id=i, config_obj=conf, topology_obj=topo, layout_obj=lay,
                       verbose=False)
        sim.run()
        comp = sim.get_compute_report_items()
        det = sim.get_detail_report_items()
        layers.append({
            "name": topo.topo_arrays[i][0],
            "total_cycles_incl_prefetch": int(comp[0]),
            "total_cycles": int(comp[1]),
            "stall_cycles": int(comp[2]),
            "overall_util": float(comp[3]),
            "mapping_eff": float(comp[4]),
            "compute_util": float(comp[5]),
            "ifmap_sram_reads": int(det[2]),
            "filter_sram_reads": int(det[5]),
            "ofmap_sram_writes": int(det[8]),
            "ifmap_dram_reads": int(det[11]),
            "filter_dram_reads": int(det[14]),
            "ofmap_dram_writes": int(det[17]),
        })
    return layers, time.perf_counter() - t0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    gemm = "--gemm" in sys.argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # SCALE-Sim prints progress and banners; keep stdout for the JSON only.
    with contextlib.redirect_stdout(io.StringIO()):
        with tempfile.TemporaryDirectory() as d:
            cwd = os.getcwd()
            cfg = os.path.abspath(args[0])
            topo = os.path.abspath(args[1])
            os.chdir(d)
            try:
                layers, secs = run(cfg, topo, gemm)
            finally:
                os.chdir(cwd)
    print(json.dumps({"seconds": secs, "layers": layers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
