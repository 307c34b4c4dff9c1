#!/usr/bin/env python3
"""Several builds of claimcheck.wasm side by side: Envoy's CPU time per request above the floor.

For trying a change to the request path (or to the build) before a full `make bench`: each
module gets its own Envoy (configured as `bench.py` configures it), all pinned to the same
core, driven in alternating rounds. The figure is Envoy's own CPU time per request (from
/proc), which other load on the machine moves far less than requests per second do, so it
can be read on a busy machine.

Usage: bench/compare.py A.wasm B.wasm ...

Environment (all optional): BENCH_CASE (default RS256; any case of bench.py),
BENCH_CONFIG (default claimcheck-cache; claimcheck or claimcheck-wasm), BENCH_ROUNDS (4),
BENCH_DURATION_S (3), BENCH_ENVOY_CPU / BENCH_WRK_CPU (0 / 1), ENVOY.
"""

import os
import statistics
import sys
from pathlib import Path

import bench


def main():
    modules = [Path(arg).resolve() for arg in sys.argv[1:]]
    if not modules:
        bench.die("usage: bench/compare.py A.wasm B.wasm ...")
    case = os.environ.get("BENCH_CASE", "RS256")
    config = os.environ.get("BENCH_CONFIG", "claimcheck-cache")
    rounds = bench.env_int("BENCH_ROUNDS", 4)
    duration = bench.env_int("BENCH_DURATION_S", 3)
    envoy_cpu = bench.env_int("BENCH_ENVOY_CPU", 0)
    wrk_cpu = bench.env_int("BENCH_WRK_CPU", 1)

    work = bench.WORK / "compare"
    work.mkdir(parents=True, exist_ok=True)
    jwks = bench.make_keys()
    token = bench.forge(bench.mint("RS256")) if case == "refused" else bench.mint(case)
    script = work / "single.lua"
    script.write_text(bench.WRK_SINGLE)

    labels = ["floor"] + [f"{index}:{module.name}" for index, module in enumerate(modules)]
    envoys = {}
    try:
        for label, module in zip(labels, [None] + modules):
            # Each Envoy keeps its files in its own directory; bench.Envoy reads both globals.
            bench.WORK = work / label.replace(":", "-")
            if module is not None:
                bench.WASM = module
            name = "floor" if module is None else config
            settings = {"duration_s": duration, "warmup_s": 1, "rounds": rounds}
            envoys[label] = bench.Envoy(name, bench.envoy_config(name, jwks, settings), envoy_cpu)
        for envoy in envoys.values():
            envoy.wait_ready()
        figures = {label: [] for label in labels}
        env = {"BENCH_TOKEN": token}
        for round_index in range(rounds):
            order = labels if round_index % 2 == 0 else list(reversed(labels))
            for label in order:
                bench.wrk(envoys[label], 1, 32, wrk_cpu, str(script), env)
                run = bench.wrk(envoys[label], duration, 32, wrk_cpu, str(script), env)
                figures[label].append(run["cpu_us_per_request"])
    finally:
        for envoy in envoys.values():
            envoy.stop()

    floor = statistics.median(figures["floor"])
    print(f"{case}, {config}: Envoy CPU µs per request (median of {rounds} rounds)")
    for label in labels:
        median = statistics.median(figures[label])
        rounds_text = " ".join(f"{x:.1f}" for x in figures[label])
        print(f"  {label:40} {median:6.1f}  above floor {median - floor:6.1f}   ({rounds_text})")


if __name__ == "__main__":
    main()
