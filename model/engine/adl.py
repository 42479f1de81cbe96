"""Auto-deleveraging (ADL): rank opposite-side positions and allocate closes or haircuts.

Pure numpy; the exchange engine moves all money. Ties go to the lower index first. Bad arguments
(NaN/inf, negative quantities, mismatched shapes) raise ValueError naming argument and value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from model.engine.args import broadcast, real_array, same_shape, scalar

FloatArray = npt.NDArray[np.float64]
QtyArray = npt.NDArray[np.float64] | npt.NDArray[np.integer]

_SNAP_TOL = 1e-9  # a continuous lot count this close to an integer is taken as that integer


def _is_lots(available: np.ndarray) -> bool:
    return bool(np.issubdtype(available.dtype, np.integer))


def _top_up(floors: np.ndarray, capacity: np.ndarray, keys: np.ndarray, n_extra: int):
    # one extra lot each to the n_extra highest keys that still have room; ties: lower index
    room = np.flatnonzero(floors < capacity)
    chosen = room[np.argsort(-keys[room], kind="stable")[:n_extra]]
    out = floors.copy()
    out[chosen] += 1
    return out


def queue_allocation(
    scores: npt.ArrayLike, available_qty: npt.ArrayLike, qty_to_close: float
) -> QtyArray:
    """Close contracts from the highest-scored candidate down (the production ADL queue).

    Candidates are taken by descending score (ties: lower index first), each closed up to its
    available quantity, the last one partially, until `qty_to_close` is met. If candidates run
    out, the total is sum(available_qty) < qty_to_close and the caller sees the shortfall.
    Source: BitMEX/Binance ranking queue (exchange-mechanics §2.6, §3.4; Chitra §7.3 "Queue").

    Args:
        scores: (n,) ADL score per candidate (e.g. `bitmex_score`); highest is closed first.
        available_qty: (n,) contracts each candidate can give up, >= 0; int dtype = exact lots.
        qty_to_close: contracts to close, >= 0 (a whole number if `available_qty` is int).

    Returns:
        (n,) contracts closed, each in [0, available_qty]; int dtype of `available_qty` if it
        is an integer array, else float64.
    """
    score_arr = real_array("scores", scores, ndim=1).astype(np.float64)
    available = real_array("available_qty", available_qty, nonneg=True, ndim=1)
    same_shape(scores=score_arr, available_qty=available)
    lots = _is_lots(available)
    qty = scalar("qty_to_close", qty_to_close, integral=lots)
    work = available.astype(np.int64 if lots else np.float64)
    order = np.argsort(-score_arr, kind="stable")
    in_order = work[order]
    before = np.concatenate(([0], np.cumsum(in_order)[:-1])).astype(work.dtype)
    closed = np.zeros_like(work)
    closed[order] = np.clip(qty - before, 0, in_order)
    return closed.astype(available.dtype) if lots else closed


def naked_lots(
    position_lots: npt.ArrayLike,
    lot_size: float,
    mark_usd: float,
    net_delta_usd: npt.ArrayLike,
) -> QtyArray:
    """Return the lots of each position that are not a hedge: the part of the account's own
    net exposure on the position's side, at most the whole position.

    naked = min(|q|, floor((s·D)_+ / (lot · mark))), s the position's side and D the account's
    net USD delta over all its spot and perp holdings (Exchange.deltas_usd). A short held
    against spot coins (D ≈ 0) is naked for 0 lots; a lone short (D = −|q|·mark) for all of
    them. Example: short 10 lots of a 1-coin perp at mark 100, the account net short 400 USD:
    4 naked lots, 6 hedged.

    Args:
        position_lots: (n,) signed lots of each candidate's position.
        lot_size: coins per lot, > 0.
        mark_usd: the market's mark, > 0.
        net_delta_usd: (n,) each account's net USD delta.
    """
    lots = real_array("position_lots", position_lots, ndim=1).astype(np.int64)
    delta = real_array("net_delta_usd", net_delta_usd, ndim=1)
    same_shape(position_lots=lots, net_delta_usd=delta)
    lot_usd = scalar("lot_size", lot_size) * scalar("mark_usd", mark_usd)
    if lot_usd <= 0:
        raise ValueError(f"lot_size · mark_usd must be > 0, got {lot_usd!r}")
    exposed = np.maximum(np.sign(lots) * delta, 0.0)
    return np.minimum(np.abs(lots), np.floor(exposed / lot_usd + 1e-9).astype(np.int64))


def portfolio_allocation(
    scores: npt.ArrayLike, held_lots: npt.ArrayLike, naked: npt.ArrayLike, qty_to_close: int
) -> QtyArray:
    """Close the naked lots first, by descending score, then the hedged rest, by score
    (the portfolio-aware queue): a position that is a hedge is taken only once every
    candidate's naked exposure is used up. Returns (n,) lots closed per candidate.
    """
    held = real_array("held_lots", held_lots, nonneg=True, ndim=1).astype(np.int64)
    first = queue_allocation(scores, np.minimum(naked, held).astype(np.int64), qty_to_close)
    rest = int(qty_to_close) - int(first.sum())
    if rest <= 0:
        return first
    return first + queue_allocation(scores, held - first, rest)


def pro_rata_haircut(profits: npt.ArrayLike, budget: float) -> FloatArray:
    """Return the haircut fraction of profit per account under wealth-space pro-rata.

    h_i = min(1, B / U) if w_i > 0 else 0, with w_i = (profit_i)_+ and U = sum w_i (Chitra §7.3
    "Pro-rata"; the socialized-loss clawback rate of exchange-mechanics §3.1). If B >= U every
    winner loses all profit and the caller sees the residual B - U.

    Args:
        profits: (n,) profit (PnL) per account in USD; accounts with profit <= 0 get 0.
        budget: USD to raise, B = severity * deficit, >= 0.

    Returns:
        (n,) haircut fractions in [0, 1]; USD taken per account is h * max(profits, 0).
    """
    weights_usd = np.maximum(real_array("profits", profits, ndim=1).astype(np.float64), 0.0)
    budget_usd = scalar("budget", budget)
    total_usd = weights_usd.sum()
    fraction = 1.0 if budget_usd >= total_usd else budget_usd / total_usd
    return np.where(weights_usd > 0, fraction, 0.0)


def capped_pro_rata_haircut(
    profits: npt.ArrayLike, budget: float, caps: npt.ArrayLike
) -> FloatArray:
    """Return haircut fractions under capped pro-rata (water-filling on the haircut level).

    h_i = min(eta, cap_i) for w_i = (profit_i)_+ > 0 (else 0), eta solving sum h_i w_i = B;
    if B >= sum cap_i w_i every cap binds (h = caps) and the caller sees the residual.
    Source: Chitra §7.3 "Capped pro-rata", the unique Sybil-resistant, scale-invariant and
    monotone rule. `pro_rata_haircut` is the case caps = 1.

    Args:
        profits: (n,) profit per account in USD.
        budget: USD to raise, >= 0.
        caps: (n,) largest haircut fraction per account, each in [0, 1].

    Returns:
        (n,) haircut fractions, each in [0, cap_i].
    """
    weights_usd = np.maximum(real_array("profits", profits, ndim=1).astype(np.float64), 0.0)
    cap_arr = real_array("caps", caps, nonneg=True, ndim=1).astype(np.float64)
    if (cap_arr > 1).any():
        raise ValueError(f"caps must be <= 1, got {cap_arr[cap_arr > 1][0]}")
    same_shape(profits=weights_usd, caps=cap_arr)
    eta = _water_level(weights_usd, cap_arr, scalar("budget", budget))
    return np.where(weights_usd > 0, np.minimum(eta, cap_arr), 0.0)


def _water_level(weights: np.ndarray, caps: np.ndarray, budget: float) -> float:
    w, c = weights[weights > 0], caps[weights > 0]
    if budget >= np.dot(c, w):
        return 1.0
    order = np.argsort(c, kind="stable")
    w, c = w[order], c[order]
    filled = np.cumsum(c * w)  # sum_{j<=k} c_j w_j
    above = np.concatenate((np.cumsum(w[::-1])[::-1][1:], [0.0]))  # sum_{j>k} w_j
    k = int(np.argmax(filled + c * above >= budget))  # first breakpoint eta = c_k reaching B
    fixed = filled[k - 1] if k > 0 else 0.0
    return float((budget - fixed) / w[k:].sum())


def contract_pro_rata(available_qty: npt.ArrayLike, qty_to_close: float) -> QtyArray:
    """Close contracts pro-rata to position size (contract space, Drift style).

    dq_i = Q * q_i / sum q with Q = min(qty_to_close, sum q) (exchange-mechanics §6.3:
    loss_i = q_i * L / sum q). Int lots: round each dq_i down, then hand the leftover lots out
    one each by largest exact remainder (Q * q_i mod sum q), ties lower index first (Hamilton's
    method), so the total is exactly Q; Chitra §7.3 notes round-down alone under-shoots.

    Args:
        available_qty: (n,) contracts each candidate holds, >= 0; int dtype = exact lots.
        qty_to_close: contracts to close, >= 0.

    Returns:
        (n,) contracts closed, each in [0, available_qty], summing to Q.
    """
    available = real_array("available_qty", available_qty, nonneg=True, ndim=1)
    lots = _is_lots(available)
    qty = scalar("qty_to_close", qty_to_close, integral=lots)
    held = available.astype(np.int64 if lots else np.float64)
    total = held.sum()
    if total == 0:
        return np.zeros_like(available if lots else held)
    if not lots:
        return np.minimum(min(qty, total) * held / total, held)
    target = min(qty, int(total))
    numerators = target * held
    floors = numerators // total
    closed = _top_up(floors, held, numerators % total, target - int(floors.sum()))
    return closed.astype(available.dtype)


def leverage_after_close(
    notional_usd: npt.ArrayLike,
    equity_usd: npt.ArrayLike,
    closed_qty: npt.ArrayLike,
    price_usd: float,
) -> FloatArray:
    """Return leverage (N - dq * p) / E after closing dq contracts, equity held fixed.

    The price gap of the ADL fill is booked by the engine and ignored here, as in
    `min_max_leverage_allocation`. Broadcasts over its array arguments.
    """
    notional, equity, closed = broadcast(
        notional_usd=real_array("notional_usd", notional_usd),
        equity_usd=real_array("equity_usd", equity_usd, positive=True),
        closed_qty=real_array("closed_qty", closed_qty, nonneg=True),
    )
    return (notional - closed * scalar("price_usd", price_usd)) / equity


def min_max_leverage_allocation(
    notional_usd: npt.ArrayLike,
    equity_usd: npt.ArrayLike,
    available_qty: npt.ArrayLike,
    price_usd: float,
    qty_to_close: float,
) -> QtyArray:
    """Close contracts so that the largest leverage left is as small as possible.

    Water-filling ("leverage draining") of Campbell, Hey, Moallemi & Nutz (2026), the unique
    optimum under a risk-neutral expected-loss objective (literature §2.3): drain the most
    levered account to the next one's leverage, then both, and so on, down to the level L with
        dq_i = clip((N_i - L * E_i) / p, 0, a_i),   sum dq_i = Q = min(qty_to_close, sum a_i).
    Simplification: leverage is (N - dq * p) / E with equity E held fixed, i.e. the cost of
    closing at the liquidated order's bankruptcy price rather than p is booked by the engine
    and not charged to E here; this keeps L piecewise linear and solvable in closed form.
    Int lots: round each dq_i down, then give the leftover lots one each to the accounts with
    the highest leverage after rounding (ties lower index first): the largest-remainder step
    of `contract_pro_rata`, keyed by leverage left (= L + frac_i * p / E_i), which is what this
    rule minimises. This is not the exact integer (ILP) optimum; its max leverage exceeds the
    continuous one by less than max_i p / E_i.

    Args:
        notional_usd: (n,) position notional N_i = |size| * p in USD, >= 0.
        equity_usd: (n,) account equity E_i in USD, > 0.
        available_qty: (n,) contracts each candidate can give up, a_i >= 0; int dtype = lots.
        price_usd: price p (USD per contract) the notional is valued at, normally the mark.
        qty_to_close: contracts to close, >= 0.

    Returns:
        (n,) contracts closed, each in [0, a_i], summing to Q.
    """
    notional = real_array("notional_usd", notional_usd, nonneg=True, ndim=1).astype(np.float64)
    equity = real_array("equity_usd", equity_usd, positive=True, ndim=1).astype(np.float64)
    available = real_array("available_qty", available_qty, nonneg=True, ndim=1)
    same_shape(notional_usd=notional, equity_usd=equity, available_qty=available)
    price = float(real_array("price_usd", price_usd, positive=True, ndim=0))
    lots = _is_lots(available)
    qty = scalar("qty_to_close", qty_to_close, integral=lots)
    held = available.astype(np.float64)
    if qty == 0 or qty >= held.sum():
        closed = available if qty else np.zeros_like(available)
        return closed.copy() if lots else closed.astype(np.float64)
    level = _leverage_level(notional, equity, held, price, qty)
    exact = np.clip((notional - level * equity) / price, 0.0, held)
    if not lots:
        return exact
    nearest = np.rint(exact)
    is_whole = np.abs(exact - nearest) <= _SNAP_TOL * np.maximum(1.0, nearest)
    exact = np.where(is_whole, nearest, exact)
    capacity = available.astype(np.int64)
    floors = np.minimum(np.floor(exact).astype(np.int64), capacity)
    left = (notional - floors * price) / equity
    closed = _top_up(floors, capacity, left, max(int(qty) - int(floors.sum()), 0))
    return closed.astype(available.dtype)


def _leverage_level(notional, equity, held, price: float, qty: float) -> float:
    # f(L) = sum clip((N - L E)/p, 0, a) is piecewise linear and non-increasing in L: account i
    # starts draining at N_i/E_i and is empty below (N_i - a_i p)/E_i. Walk the breakpoints
    # downward, then interpolate inside the segment where f reaches qty.
    levels = np.concatenate((notional / equity, (notional - held * price) / equity))
    slope_changes = np.concatenate((equity / price, -equity / price))
    order = np.argsort(-levels, kind="stable")
    levels, slope_changes = levels[order], slope_changes[order]
    slopes = np.cumsum(slope_changes)  # contracts per unit of leverage just below levels[k]
    closed_at = np.concatenate(([0.0], np.cumsum(slopes[:-1] * -np.diff(levels))))
    hits = closed_at >= qty
    if not hits.any():  # float round-off with qty ~ sum a: close everything
        return float(levels[-1])
    k = int(np.argmax(hits)) - 1
    return float(levels[k] - (qty - closed_at[k]) / slopes[k])


def adl_budget_usd(
    closed_qty: npt.ArrayLike, bankruptcy_price: npt.ArrayLike, mark_price: npt.ArrayLike
) -> float:
    """Return the needed ADL budget, sum |mark - bankruptcy| * |dq| over ADL fills, in USD.

    The profit counterparties really give up by being closed at the liquidated order's
    bankruptcy price instead of mark (Chitra §7.3 "needed budget"; $15.1M on 10 Oct 2025).
    """
    closed, bankrupt, mark = broadcast(
        closed_qty=real_array("closed_qty", closed_qty),
        bankruptcy_price=real_array("bankruptcy_price", bankruptcy_price, nonneg=True),
        mark_price=real_array("mark_price", mark_price, nonneg=True),
    )
    return float(np.sum(np.abs(mark - bankrupt) * np.abs(closed)))


def adl_overshoot_usd(value_taken_usd: float, needed_budget_usd: float) -> float:
    """Return (value taken - needed budget)_+ in USD (Chitra §7.3 overshoot; $45.0M in v3)."""
    taken_usd = scalar("value_taken_usd", value_taken_usd)
    return max(taken_usd - scalar("needed_budget_usd", needed_budget_usd), 0.0)


def hedges_broken(
    account_usd: tuple[npt.ArrayLike, npt.ArrayLike],
    leg_usd: tuple[npt.ArrayLike, npt.ArrayLike],
    closed_usd: npt.ArrayLike,
    side: int,
    band: float,
) -> npt.NDArray[np.bool_]:
    """Which winners an ADL close of `closed_usd` (at the mark) would turn from hedged to not.

    Hedged: g > 0 and |d| ≤ band · g, with d the net USD delta and g the gross exposure, over
    the whole account (`account_usd` = (d, g)) or in the closed perp's asset (`leg_usd`). The
    close moves the winner's perp toward flat: d' = d + side · c, g' = g − c, side the
    liquidated position's (+1 long: the winner's short is bought back). A break is a hedge
    that holds before and not after, on either measure (`Policy.hedges`). Example: 10 coins of
    spot against a 10-coin short, mark 97: d = 0, g = 1,940; closing all, c = 970: d' = 970,
    g' = 970 → broken; closing 1, c = 97: d' = 97 ≤ 0.2 · 1,843 → still hedged.
    """
    c = real_array("closed_usd", closed_usd, nonneg=True, ndim=1)
    width = scalar("band", band)

    def within(d: np.ndarray, g: np.ndarray) -> np.ndarray:
        return (g > 0) & (np.abs(d) <= width * g)

    broken = np.zeros(len(c), dtype=bool)
    for name, (d, g) in (("account_usd", account_usd), ("leg_usd", leg_usd)):
        d = real_array(f"{name}[0]", d, ndim=1)
        g = real_array(f"{name}[1]", g, nonneg=True, ndim=1)
        same_shape(closed_usd=c, **{name: d})
        broken |= within(d, g) & ~within(d + side * c, g - c)
    return broken
