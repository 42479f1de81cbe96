"""A scripted collateral depeg on the bare engine: a coin-margined account, a flat perp, and a
seller dumping the coin on the venue's thin spot book.

The account's only margin is a USDe-like stablecoin (collateral.py; haircut 5 %, assumed); it
holds a long BTC perp bought at the index, and the perp never moves, so its unrealised PnL is
0 throughout. With valuation="venue" the coin is worth its last trade on the venue's own
book, and the dump liquidates the account (10 Oct 2025 on Binance); with valuation="reference"
it is worth its outside reference, 1.00 all along, and nothing happens to the account.
"""

from __future__ import annotations

import math

import numpy as np

from model.engine.collateral import CollateralAsset, CollateralConfig
from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.specs import SpotSpec, btc_perp
from model.engine.types import OrderKind, Venue

INDEX_USD = 100_000.0
"""The perp's index and mark all run long: the perp is flat."""
COIN = "USDEUSDT"
HAIRCUT = 0.05
"""Collateral value ratio 0.95 (assumed; Binance's multi-assets mode ratios are 0.9–1)."""
COINS = 1_000.0
"""The account's whole margin: 1,000 coins, 950 USD of margin at 1.00."""
LEVERAGE = 150.0
"""BTCUSDT's first bracket (MMR 0.4 %): maintenance is 0.004 · 150 = 60 % of the margin at the
cap, so the coin's venue price must fall below about 0.6 to liquidate the account."""
DUMP_TO_USD = (0.95, 0.85, 0.70, 0.50)
"""The seller's limit price in each minute: it sells into every bid down to it."""
SELLER_COINS = 100_000.0


def _spot_bids(ex: Exchange, maker: int, rng: np.random.Generator) -> None:
    """The coin's thin venue book: asks from 1.0001, bids every cent from 0.99 to 0.30
    (400–1,200 coins each, drawn), plus 20,000 coins bid at 0.9999."""
    for i in range(1, 6):
        price = round(1.0 + i * 0.0001, 4)
        ex.submit(Order(maker, 0, -1, 5_000.0, OrderKind.LIMIT, price, venue=Venue.SPOT))
    ex.submit(Order(maker, 0, 1, 20_000.0, OrderKind.LIMIT, 0.9999, venue=Venue.SPOT))
    for cents in range(99, 29, -1):
        qty = float(rng.integers(400, 1_201))
        ex.submit(Order(maker, 0, 1, qty, OrderKind.LIMIT, cents / 100, venue=Venue.SPOT))


def build(
    valuation: str = "venue", seed: int = 0, haircut: float = HAIRCUT
) -> tuple[Exchange, int, int]:
    """The scene at minute 0; returns (exchange, the coin-margined account, the seller).

    Raises:
        ValueError: A valuation or haircut the collateral configuration refuses (named).
    """
    rng = np.random.default_rng(seed)
    perp = btc_perp(mark_rule="index", maker_fee=0.0)
    coin = SpotSpec(COIN, tick_size=0.0001, lot_size=1.0)
    collateral = CollateralConfig((CollateralAsset(COIN, haircut, 1.0),), valuation)
    ex = Exchange(
        [perp], [INDEX_USD], [coin], spot_of_perp=[-1], collateral=collateral,
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    maker = ex.open_account(10_000_000.0)
    ex.deposit_spot(maker, 0, 100_000.0)
    for i in range(1, 21):  # the perp book: 1 BTC a level, 10 USD apart
        for side in (1, -1):
            price = INDEX_USD - side * 10.0 * i
            ex.submit(Order(maker, 0, side, 1.0, OrderKind.LIMIT, price, leverage=10.0))
    _spot_bids(ex, maker, rng)
    account = ex.open_account()
    ex.deposit_spot(account, 0, COINS)
    usage = rng.uniform(0.95, 1.0)  # of the most the opening margin check allows
    most = ex.available_usd(account) / (1 / LEVERAGE + perp.taker_fee) / INDEX_USD
    qty = math.floor(usage * most / perp.lot_size) * perp.lot_size
    ex.submit(Order(account, 0, 1, qty, OrderKind.LIMIT, INDEX_USD, leverage=LEVERAGE))
    short = ex.open_account(50_000.0)  # sells to the account's bid at the index
    ex.submit(Order(short, 0, -1, qty, OrderKind.LIMIT, INDEX_USD, ioc=True, leverage=10.0))
    seller = ex.open_account()
    ex.deposit_spot(seller, 0, SELLER_COINS)
    ex.check_invariants()
    return ex, account, seller


def minutes(valuation: str = "venue", seed: int = 0, haircut: float = HAIRCUT):
    """Run the dump minute by minute, liquidating after each; yield (minute, exchange,
    account) after each minute's liquidation loop (invariants checked)."""
    ex, account, seller = build(valuation, seed, haircut)
    yield 0, ex, account
    for t, limit in enumerate(DUMP_TO_USD, start=1):
        ex.t = t
        ex.submit(Order(seller, 0, -1, SELLER_COINS / 4, OrderKind.LIMIT, limit, ioc=True,
                        venue=Venue.SPOT))  # fmt: skip
        ex.set_index([INDEX_USD])
        ex.liquidate()
        ex.check_invariants()
        yield t, ex, account


def account_row(ex: Exchange, account: int) -> dict:
    """The account's state: coins, USD wallet, perp UPnL, cross equity and maintenance."""
    r = ex.risk_arrays(np.array([account]))
    liq = ex.events.frame("liquidation")
    return {
        "coins": int(ex.accounts.spot_lots[account, 0]),
        "wallet_usd": float(ex.accounts.collateral_usd[account]),
        "perp_upnl_usd": float(r["upnl_usd"][0].sum()),
        "equity_usd": float(r["cross_equity_usd"][0]),
        "mm_usd": float(r["cross_mm_usd"][0]),
        "liq": int((liq.account == account).sum()),
    }


def side_by_side(seed: int = 0, haircut: float = HAIRCUT):
    """One row per minute, the two valuations side by side: the coin's last trade on the
    venue's book, then the account's cross equity, maintenance margin, liquidation events
    and coins under valuation="venue" and under valuation="reference" (held at 1.00), and
    its perp UPnL (the lower of the two runs)."""
    import pandas as pd

    rows = []
    runs = zip(minutes("venue", seed, haircut), minutes("reference", seed, haircut), strict=True)
    for (t, ex_v, acct_v), (_, ex_r, acct_r) in runs:
        venue, ref = account_row(ex_v, acct_v), account_row(ex_r, acct_r)
        row = {"minute": t, "coin_venue_usd": ex_v.collateral.venue_price_usd(0)}
        for tag, r in (("venue", venue), ("ref", ref)):
            row.update({f"{tag}:{k}": r[k] for k in ("equity_usd", "mm_usd", "liq", "coins")})
        row["perp_upnl_usd"] = min(venue["perp_upnl_usd"], ref["perp_upnl_usd"])
        rows.append(row)
    return pd.DataFrame(rows)


def outcome(valuation: str, seed: int = 0, haircut: float = HAIRCUT) -> dict:
    """The whole run under one valuation: was the account liquidated, its lowest perp UPnL,
    its coins sold by the engine and the coin's last venue price."""
    low = math.inf
    for _, ex, account in minutes(valuation, seed, haircut):
        low = min(low, account_row(ex, account)["perp_upnl_usd"])
    fills = ex.events.frame("fill")
    sold = fills[(fills.venue == "spot") & fills.is_liquidation & (fills.taker == account)]
    return {
        "valuation": valuation,
        "liquidated": bool(account_row(ex, account)["liq"]),
        "min_perp_upnl_usd": low,
        "coins_sold_by_engine": float(sold.qty.sum()),
        "coin_last_usd": ex.collateral.venue_price_usd(0),
    }
