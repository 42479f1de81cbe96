"""Frame time of the teaching page: model steps plus the rendering of its views.

``python -m experiments.bench.page [--frames N] [--rounds R] [--tree NAME=DIR ...]`` renders
the page in-process (solara, no browser, no server), presses Step `frames` times and times
each press. One press is one frame: the page's minutes per frame of model steps, then the
re-render of every view (figures drawn and encoded as PNG, the text panels). The same number
of minutes is also stepped on a second model with the same controls and no page, frame by
frame, so the model's share is measured apart; rendering is the difference, frame by frame.
Figures are medians over frames (the network and the browser's decoding are not included).

Each tree (this project's source tree, or e.g. an export of an older commit) is measured in
its own process with that tree first on PYTHONPATH; with several trees they take turns round
by round, so a before/after pair is measured side by side under the same machine load.
Writes ``results/bench/page.json``. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path("results/bench/page.json")
FRAMES = 24
"""Frames per round: 24 × 15 minutes runs the page's oct-2025 day to minute 360, through its
shock at minute 240 and the cascade after it."""
TARGET_FRAME_S = 0.5
"""Issue 18's target: a 15-minute frame in at most half a second on this machine."""
CHILD = (
    "import importlib.util as u, sys; "
    "s = u.spec_from_file_location('page_bench', sys.argv[1]); m = u.module_from_spec(s); "
    "s.loader.exec_module(m); m.child(int(sys.argv[2]))"
)
"""Loads this file by path in the child, so `experiments` comes from the tree measured."""


def _step_button():
    """The page rendered in-process, and its Step button (Mesa's ModelController)."""
    import ipyvuetify as vw
    import solara

    from experiments.page import app

    @solara.component
    def Wrapped():  # noqa: N802  (the sidebar renders only inside an AppLayout)
        with solara.AppLayout():
            app.Page()

    _, rc = solara.render(Wrapped(), handle_error=False)
    return rc.find(vw.Btn, children=["Step"]).widget


def child(frames: int) -> None:
    """Measure one tree (run in a child process): print one JSON line."""
    import matplotlib

    matplotlib.use("Agg")
    from experiments.page import app

    started = time.perf_counter()
    step = _step_button()
    first_render_s = time.perf_counter() - started
    frame_s = []
    for _ in range(frames):
        t = time.perf_counter()
        step.click()
        frame_s.append(time.perf_counter() - t)
    model = app.DemoModel()
    minutes_per_frame = _minutes_per_frame()
    steps_s = []
    for _ in range(frames):
        t = time.perf_counter()
        for _ in range(minutes_per_frame):
            model.step()
        steps_s.append(time.perf_counter() - t)
    out = {
        "frame_s": frame_s,
        "steps_s": steps_s,
        "first_render_s": first_render_s,
        "minutes_per_frame": minutes_per_frame,
        "last_minute": int(model.t),
        "retail_accounts": model.cfg.retail.n_accounts,
        "page_module": app.__file__,
    }
    print(json.dumps(out))


def _minutes_per_frame() -> int:
    from experiments.page import app

    return int(app.MINUTES_PER_FRAME)


def measure_tree(tree: Path, frames: int) -> dict:
    """One round of one tree, in its own process."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, __file__, str(frames)],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(rounds: list[dict]) -> dict:
    """Medians over every frame of every round; rendering is frame − steps, frame by frame."""
    frame_s = [x for r in rounds for x in r["frame_s"]]
    steps_s = [x for r in rounds for x in r["steps_s"]]
    render_s = [f - s for f, s in zip(frame_s, steps_s, strict=True)]
    return {
        "frames": len(frame_s),
        "frame_s_median": statistics.median(frame_s),
        "frame_s_max": max(frame_s),
        "steps_s_median": statistics.median(steps_s),
        "render_s_median": statistics.median(render_s),
        "first_render_s": [r["first_render_s"] for r in rounds],
        "minutes_per_frame": rounds[0]["minutes_per_frame"],
        "last_minute": rounds[0]["last_minute"],
        "retail_accounts": rounds[0]["retail_accounts"],
        "page_module": rounds[0]["page_module"],
        "rounds": rounds,
    }


def run(trees: dict[str, Path], frames: int, n_rounds: int) -> dict:
    """Every tree, round by round in turn; the summary of each."""
    from experiments.bench.results import machine

    per_tree: dict[str, list[dict]] = {name: [] for name in trees}
    load_start = os.getloadavg()[0]
    for _ in range(n_rounds):
        for name, tree in trees.items():
            per_tree[name].append(measure_tree(tree, frames))
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "target_frame_s": TARGET_FRAME_S,
        "trees": {name: str(tree) for name, tree in trees.items()},
        "results": {name: summary(rounds) for name, rounds in per_tree.items()},
    }


def table(res: dict) -> str:
    """One line per tree: median frame, its model steps and its rendering."""
    lines = [
        f"{'tree':<10} {'frame (median)':>15} {'model steps':>12} {'rendering':>10} "
        f"{'frame (max)':>12}  frames"
    ]
    for name, r in res["results"].items():
        lines.append(
            f"{name:<10} {r['frame_s_median']:>13.3f} s {r['steps_s_median']:>10.3f} s "
            f"{r['render_s_median']:>8.3f} s {r['frame_s_max']:>10.3f} s  {r['frames']} × "
            f"{r['minutes_per_frame']} min"
        )
    return "\n".join(lines)


def _tree(text: str) -> tuple[str, Path]:
    name, _, path = text.rpartition("=")
    path = Path(path).resolve()
    return name or path.name, path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.page", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=FRAMES, help="Step presses per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (trees take turns)")
    parser.add_argument(
        "--tree",
        action="append",
        type=_tree,
        help="NAME=DIR of a source tree to measure (repeatable; default: this tree)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON file (default {OUT})")
    args = parser.parse_args(argv)
    trees = dict(args.tree or [("this", ROOT)])
    res = run(trees, args.frames, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"target: a frame in <= {TARGET_FRAME_S} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
