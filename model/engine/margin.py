"""Pure margin math for linear USD-margined perps: notional, PnL, equity, tiered maintenance
margin, margin ratio, and bankruptcy/liquidation prices (Binance one-way formula).

Every function is vectorised: arguments broadcast, scalars give numpy scalars, inputs are never
mutated. Conventions follow exchange-mechanics.md §0 (side s = +1 long / -1 short).
"""

from __future__ import annotations

import numpy as np

from model.engine.tiers import TierTable
from model.engine.types import FloatArray

FloatLike = float | FloatArray


def notional_usd(qty: FloatLike, price_usd: FloatLike) -> FloatLike:
    """Return the position notional, N = |qty| * price.

    Args:
        qty: Signed position size, coins (+ long, - short).
        price_usd: Price per coin, USD (mark, entry or oracle as the caller decides).
    """
    return _out(np.abs(_f(qty)) * _f(price_usd))


def unrealized_pnl_usd(
    qty: FloatLike, entry_price_usd: FloatLike, mark_price_usd: FloatLike
) -> FloatLike:
    """Return unrealized PnL, UPnL = qty * (mark - entry), with qty signed (+ long, - short)."""
    return _out(_f(qty) * (_f(mark_price_usd) - _f(entry_price_usd)))


def equity_usd(wallet_usd: FloatLike, upnl_usd: FloatLike) -> FloatLike:
    """Return equity (Binance "margin balance"), wallet + UPnL."""
    return _out(_f(wallet_usd) + _f(upnl_usd))


def initial_margin_usd(notional_usd: FloatLike, leverage: FloatLike) -> FloatLike:
    """Return initial margin, IM = N / leverage (Binance "Leverage and Margin" FAQ).

    Raises:
        ValueError: If any leverage is not > 0.
    """
    lev = _f(leverage)
    if np.any(~(lev > 0.0)):
        raise ValueError(f"leverage must be > 0, got {leverage!r}")
    return _out(_f(notional_usd) / lev)


def maintenance_margin(notional_usd: FloatLike, tiers: TierTable) -> FloatLike:
    """Return tiered maintenance margin, MM = N * MMR_k - cum_k, k = bracket of N.

    Continuous at bracket edges by construction of cum (Binance FAQ "How to Calculate
    Liquidation Price of USDⓈ-M Futures Contracts"; Hyperliquid "deduction", §5.1).

    Args:
        notional_usd: Position notional(s), USD, >= 0.
        tiers: Bracket table of the market.
    """
    n = _f(notional_usd)
    k = tiers.bracket(n)
    return _out(n * tiers.mmr_arr[k] - tiers.cum_usd[k])


def margin_ratio(maintenance_usd: FloatLike, equity_usd: FloatLike) -> FloatLike:
    """Return Binance's margin ratio, MM / equity; liquidation at ratio >= 1.

    Equity <= 0 gives inf (the account is at or past bankruptcy), whatever the MM.
    """
    mm, eq = np.broadcast_arrays(_f(maintenance_usd), _f(equity_usd))
    out = np.full(mm.shape, np.inf)
    np.divide(mm, eq, out=out, where=eq > 0.0)
    return _out(out)


def liquidation_price(
    *,
    side: FloatLike,
    qty: FloatLike,
    entry_price: FloatLike,
    wallet_balance: FloatLike,
    mmr: FloatLike,
    maintenance_amount: FloatLike = 0.0,
    other_maintenance: FloatLike = 0.0,
    other_upnl: FloatLike = 0.0,
) -> FloatLike:
    """Return the one-way-mode liquidation price for a fixed bracket (MMR, cum).

    LP = (WB - TMM1 + UPNL1 + cum - s*Q*EP) / (Q*MMR - s*Q), the price at which
    WB + UPNL1 + s*Q*(LP - EP) = TMM1 + Q*LP*MMR - cum, i.e. equity equals maintenance margin
    (Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"; §2.2).
    Other positions' MM and UPnL are held at their current values. The bracket is taken as
    given; use `liquidation_price_tiered` to pick the self-consistent one.

    Args:
        side: +1 long, -1 short.
        qty: Absolute position size Q, coins, > 0.
        entry_price: Average entry price EP, USD, > 0.
        wallet_balance: Cross wallet balance (cross) or the position's isolated margin
            (isolated, with other_* = 0), USD.
        mmr: Maintenance-margin rate of the bracket, in [0, 1).
        maintenance_amount: Bracket's cum, USD (subtracted from N * MMR).
        other_maintenance: TMM1, maintenance margin of the account's other positions, USD.
        other_upnl: UPNL1, unrealized PnL of the account's other positions, USD.

    Returns:
        LP in USD, or NaN where LP <= 0 (Binance shows "--"): for a long it is never
        liquidated at a positive price; for a short it is past maintenance at every price.

    Raises:
        ValueError: On side not +-1, qty <= 0, entry_price <= 0 or mmr outside [0, 1).
    """
    s, q, ep = _check_position(side, qty, entry_price)
    m = _f(mmr)
    if np.any(~((m >= 0.0) & (m < 1.0))):
        raise ValueError(f"mmr must be in [0, 1), got {mmr!r}")
    free = _free_usd(wallet_balance, other_maintenance, other_upnl)
    return _out(_positive_or_nan(_lp_raw(s, q, ep, free, m, _f(maintenance_amount))))


def bankruptcy_price(
    *,
    side: FloatLike,
    qty: FloatLike,
    entry_price: FloatLike,
    wallet_balance: FloatLike,
    other_upnl: FloatLike = 0.0,
) -> FloatLike:
    """Return the bankruptcy price, where account equity is exactly zero.

    BP = EP - s*(WB + UPNL1)/Q: the Binance LP formula with MMR = 0, cum = 0 and TMM1 = 0
    (§2.2; isolated long BP = EP - WB/Q, short BP = EP + WB/Q). Other positions' maintenance
    does not enter: bankruptcy is equity = 0, not equity = MM.

    Args:
        side: +1 long, -1 short.
        qty: Absolute position size Q, coins, > 0.
        entry_price: Average entry price EP, USD, > 0.
        wallet_balance: Cross wallet balance or the position's isolated margin, USD.
        other_upnl: Unrealized PnL of the account's other positions, USD (0 if isolated).

    Returns:
        BP in USD, or NaN where BP <= 0 (same convention as `liquidation_price`).
    """
    return liquidation_price(
        side=side,
        qty=qty,
        entry_price=entry_price,
        wallet_balance=wallet_balance,
        mmr=0.0,
        other_upnl=other_upnl,
    )


def bankruptcy_price_at_mark(
    side: FloatLike, qty: FloatLike, equity_usd: FloatLike, mark_usd: FloatLike
) -> FloatLike:
    """Return the bankruptcy price from the equity at the mark: BP = mark − s·E/Q.

    The same price as `bankruptcy_price`: with E = WB + UPNL1 + s·Q·(mark − EP), mark − s·E/Q
    = EP − s·(WB + UPNL1)/Q (§2.2). The engine knows E (its risk view) and prices each leg of
    a unit from its share of E; plain arithmetic, so it runs on floats and arrays alike.

    Args:
        side: +1 long, -1 short.
        qty: Absolute position size Q, coins, > 0.
        equity_usd: The (share of) equity backing the position at the mark, USD.
        mark_usd: Mark price, USD.

    Returns:
        BP in USD (not clipped: a deficit beyond the whole position gives BP <= 0 for a long).

    Example: long 2 coins at mark 100 with equity 30: BP = 100 − 30/2 = 85.
    """
    return mark_usd - side * equity_usd / qty


def worst_close_price(
    side: float, qty: float, equity_usd: float, mark_usd: float, fee_rate: float
) -> float:
    """Return the worst price at which a unit may close `qty` of a position of `side` without
    its equity going below zero: p* = (mark·q − s·E) / (q·(1 − s·f)).

    Closing q coins at p instead of the mark changes the unit's equity E by −s·(mark − p)·q
    and the taker fee by −p·q·f; E − s·(mark − p)·q − p·q·f ≥ 0 solves to p ≥ p* for a long
    (s = +1, selling) and p ≤ p* for a short (s = −1, buying). With f = 0 and the whole
    position, p* is the bankruptcy price mark − s·E/Q (`bankruptcy_price_at_mark`).

    Example: long 10 at mark 100 with equity 30, fee 0: p* = (1,000 − 30)/10 = 97; with a
    fee of 0.1 %: p* = 970 / (10 · 0.999) = 97.097.
    """
    return (mark_usd * qty - side * equity_usd) / (qty * (1.0 - side * fee_rate))


def liquidation_price_tiered(
    *,
    side: FloatLike,
    qty: FloatLike,
    entry_price: FloatLike,
    wallet_balance: FloatLike,
    tiers: TierTable,
    other_maintenance: FloatLike = 0.0,
    other_upnl: FloatLike = 0.0,
    max_iter: int | None = None,
) -> FloatLike:
    """Return the liquidation price with the bracket re-checked at the liquidation notional.

    Binance rule (§2.2): start from the bracket of the entry notional Q*EP, compute LP with
    its MMR/cum, and if Q*LP falls in another bracket recompute with that one, until the
    bracket no longer changes. All elements iterate together.

    Convergence: MM is convex in N and equals the max of the bracket lines, so after the first
    step each recomputed LP moves monotonically (up for longs, down for shorts) towards the
    unique root of equity = MM; at most n_brackets + 1 evaluations are needed. On a bracket
    floor both neighbouring brackets give the same price (MM is continuous); if rounding there
    makes the bracket flip until `max_iter`, the last iterate is returned (equal up to
    rounding).

    Args:
        side: +1 long, -1 short.
        qty: Absolute position size Q, coins, > 0.
        entry_price: Average entry price EP, USD, > 0.
        wallet_balance: Cross wallet balance or the position's isolated margin, USD.
        tiers: Bracket table of the market.
        other_maintenance: Maintenance margin of the account's other positions, USD.
        other_upnl: Unrealized PnL of the account's other positions, USD.
        max_iter: Cap on evaluations; default n_brackets + 2.

    Returns:
        LP in USD, or NaN where LP <= 0 (see `liquidation_price`).

    Raises:
        ValueError: On side not +-1, qty <= 0, entry_price <= 0 or max_iter < 1.
    """
    n_iter = tiers.n_brackets + 2 if max_iter is None else max_iter
    if n_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    s, q, ep = _check_position(side, qty, entry_price)
    free = _free_usd(wallet_balance, other_maintenance, other_upnl)
    s, q, ep, free = np.broadcast_arrays(s, q, ep, free)
    k = tiers.bracket(q * ep)
    for _ in range(n_iter):
        lp = _lp_raw(s, q, ep, free, tiers.mmr_arr[k], tiers.cum_usd[k])
        k_next = tiers.bracket(q * np.fmax(lp, 0.0))  # fmax: NaN/negative LP -> bracket 0
        if np.array_equal(k_next, k):
            break
        k = k_next
    return _out(_positive_or_nan(lp))


def _lp_raw(
    s: FloatArray,
    q: FloatArray,
    ep: FloatArray,
    free: FloatArray,
    mmr: FloatArray,
    cum: FloatArray,
) -> FloatArray:
    """Binance one-way LP without the sign check; free = WB - TMM1 + UPNL1."""
    return (free + cum - s * q * ep) / (q * mmr - s * q)


def _free_usd(wallet: FloatLike, other_maintenance: FloatLike, other_upnl: FloatLike) -> FloatArray:
    return _f(wallet) - _f(other_maintenance) + _f(other_upnl)


def _check_position(
    side: FloatLike, qty: FloatLike, entry_price: FloatLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    s, q, ep = _f(side), _f(qty), _f(entry_price)
    if np.any(np.abs(s) != 1.0):
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side!r}")
    if np.any(~((q > 0.0) & np.isfinite(q))):
        raise ValueError(
            f"qty must be finite and > 0 (absolute size; sign goes in side), got {qty!r}"
        )
    if np.any(~((ep > 0.0) & np.isfinite(ep))):
        raise ValueError(f"entry_price must be finite and > 0, got {entry_price!r}")
    return s, q, ep


def _positive_or_nan(price: FloatArray) -> FloatArray:
    return np.where(price > 0.0, price, np.nan)


def _f(x: FloatLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(a: FloatArray) -> FloatLike:
    """Unwrap 0-d results to numpy scalars; arrays pass through."""
    return np.asarray(a)[()]
