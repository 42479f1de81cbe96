"""The validation's figures: oct-2025 (liquidations, marks against the twin's, depth, pools),
the leverage sweep's tails and the stylized facts' autocorrelations (matplotlib Figure API)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from experiments.validation.metrics import ABS_RETURN_LAGS, RETURN_LAGS, Z95
from experiments.validation.tables import Results
from experiments.validation.targets import TAIL_ASSETS


def oct_figure(res: Results) -> Figure:
    """oct-2025, median over seeds: liquidations by side, marks, depth and pools."""
    runs = res.oct_runs
    s0 = runs[0]["info"]["shock_start"]
    symbols, kinds = runs[0]["info"]["symbols"], runs[0]["info"]["kinds"]
    n = min(len(r["paths"]["liq_long"]) for r in runs)
    t = np.arange(n) - s0
    win = (t >= -60) & (t <= 360)

    def med(name: str) -> np.ndarray:
        return np.nanmedian([r["paths"][name][:n] for r in runs], axis=0)

    fig = Figure(figsize=(11, 7), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    a.plot(t[win], med("liq_long")[win] / 1e3, color="#d62728", label="longs")
    a.plot(t[win], med("liq_short")[win] / 1e3, color="#1f77b4", label="shorts")
    a.set(title="Liquidated notional per minute (seed median)", ylabel="k USD", xlabel="minutes")
    a.legend()
    marks, twins = med("mark_rel"), med("twin_mark_rel")
    for k, sym in enumerate(symbols):
        style = "-" if kinds[k] == "major" else ("--" if kinds[k] == "alt" else ":")
        line = b.plot(t[win], marks[win, k], style, label=sym)
        if sym in ("BTC", *TAIL_ASSETS):
            b.plot(t[win], twins[win, k], style, color=line[0].get_color(), alpha=0.35)
    b.axhspan(0.85, 0.90, color="grey", alpha=0.2, label="majors −10–15 %")
    b.axhspan(0.20, 0.50, color="orange", alpha=0.15, label="long tail −50–80 %")
    b.set(title="Mark / pre-shock mark (seed median; faint: twin)")
    b.set_xlabel("minutes from the shock")
    b.legend(fontsize=7, ncol=2)
    depth = np.array([r["paths"]["depth_rel"][:n] for r in runs])
    c.plot(t[win], np.nanmedian(depth, axis=0)[win], color="k")
    c.fill_between(
        t[win], *np.nanpercentile(depth, [25, 75], axis=0)[:, win], color="k", alpha=0.15
    )
    c.axhline(0.1, color="#d62728", ls="--", label="−90 %")
    c.set(title="Depth within ±1 %, all perps / pre-shock hour", xlabel="minutes from the shock")
    c.legend()
    pools = med("pool_rel")
    names = runs[0]["info"].get("pools", ())
    for p in range(pools.shape[1]):
        d.plot(t[win], pools[win, p], label=names[p] if p < len(names) else f"pool {p}")
    d.set(title="Insurance pools / start (seed median)", xlabel="minutes from the shock")
    d.legend()
    return fig


def leverage_figure(res: Results) -> Figure:
    """Excess kurtosis and Hill index of 1-min mark returns against the maximum leverage."""
    df = res.leverage
    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    for sym, g in df.groupby("asset", sort=False):
        x = g["max_leverage"].to_numpy()
        for ax, stat in ((a, "kurt"), (b, "hill")):
            y = g[f"{stat}_median"].to_numpy()
            err = np.vstack([y - g[f"{stat}_p25"], g[f"{stat}_p75"] - y])
            line = ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{sym} seed median")
            color = line[0].get_color()
            ax.plot(x, g[f"{stat}_pooled"], "x", color=color, label=f"{sym} pooled")
    a.axhspan(-1, 1, color="grey", alpha=0.2, label="|κ| < 1 (Gaussian-like)")
    a.set(xscale="log", xlabel="maximum leverage (x)", ylabel="excess kurtosis, 1-min returns")
    a.set_title("Kurtosis vs max leverage (bars: seed p25–p75)", fontsize=9)
    b.axhspan(2, 3, color="grey", alpha=0.2, label="Hill 2–3")
    b.set(xscale="log", xlabel="maximum leverage (x)", ylabel="Hill index (top 5 %)")
    b.set_title("Tail index vs max leverage", fontsize=9)
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    return fig


def stylized_figure(res: Results) -> Figure:
    """Calm scenario: ACF of returns and of |returns|, kurtosis against aggregation."""
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    for sym, acf in res.acf.items():
        if sym not in set(res.leverage["asset"]):
            continue
        band = Z95 / np.sqrt(res.n_returns[sym] / max(1, len(res.per_seed["stylized"])))
        a.plot(np.arange(1, RETURN_LAGS + 1), acf["returns"], "o-", label=sym)
        b.plot(np.arange(1, ABS_RETURN_LAGS + 1), acf["abs_returns"], label=sym)
    for ax in (a, b):
        ax.axhspan(-band, band, color="grey", alpha=0.25, label="±1.96/√n (one seed)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("lag (minutes)")
        ax.legend(fontsize=8)
    a.set_title("ACF of 1-min returns (mean over seeds)", fontsize=9)
    b.set_title("ACF of |1-min returns|", fontsize=9)
    steps = (1, 5, 15, 60)
    for row in res.stylized.itertuples():
        if row.asset in set(res.leverage["asset"]):
            c.plot(steps, [getattr(row, f"kurt_{s}m") for s in steps], "o-", label=row.asset)
    c.axhline(0, color="k", lw=0.5)
    c.set(xscale="log", xlabel="aggregation (minutes)", ylabel="excess kurtosis")
    c.set_title("Aggregational Gaussianity (pooled)", fontsize=9)
    c.legend(fontsize=8)
    return fig


def empty_figure(note: str) -> Figure:
    fig = Figure(figsize=(6, 1.5))
    fig.text(0.5, 0.5, note, ha="center", va="center")
    return fig
