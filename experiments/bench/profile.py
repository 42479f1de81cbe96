"""pyinstrument profiles of the shock day and of scaled runs (``python -m experiments.bench
--profile FILE``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from experiments.bench.results import machine
from experiments.bench.runs import scaled_config

PROFILE_CASES = (
    ("shock scenario, 10,000 retail accounts, one simulated day", 10_000, 0, 1_440),
    ("scaled shock, 1,000,000 retail accounts, minutes 0-59 (the opening)", 1_000_000, 0, 60),
    ("scaled shock, 100,000 retail accounts, minutes 700-759 (the cascade)", 100_000, 700, 60),
)
"""(label, retail accounts, first minute profiled, minutes profiled)."""


def profile(out: Path, cases=PROFILE_CASES) -> str:
    """pyinstrument summaries (call tree ≥ 2 %, then the top functions by own time)."""
    from pyinstrument import Profiler

    from model import CascadeModel

    parts = [f"Cascade Lab profile ({time.strftime('%Y-%m-%d %H:%M')}), {machine()['cpu_model']}"]
    for label, n_accounts, start, minutes in cases:
        cfg = scaled_config(n_accounts)  # at the scenario's own crowd size: the scenario
        model = CascadeModel(scenario=cfg, rng=1)
        for _ in range(start):
            model.step()
        profiler = Profiler(interval=0.002)
        w, c, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        profiler.start()
        for _ in range(minutes):
            model.step()
        profiler.stop()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        tree = profiler.output_text(
            time="percent_of_total", processor_options={"filter_threshold": 0.02}
        )
        flat = profiler.output_text(flat=True, time="percent_of_total").splitlines()
        top = [line for line in flat if "%" in line and "[self]" not in line][:20]
        parts += [
            f"\n=== {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, load average {load:.1f}",
            "--- call tree (frames >= 2 % of the total)",
            "\n".join(line for line in tree.splitlines()[5:] if line.strip()),  # no banner
            "--- top 20 functions by own time",
            *top,
        ]
    text = "\n".join(parts) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text
