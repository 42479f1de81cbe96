"""The population a run starts with: its traders, their money, and the positions they hold
at minute 0 (DESIGN.md §2.1, §2.3). Set-up only, run once by `CascadeModel`; every balance
goes through the exchange's public API.
"""

from __future__ import annotations

import mesa
import numpy as np

from agents.background import Arbitrageurs, MacroSellers, NoiseTraders, ValueTraders
from agents.basis import BasisTrader
from agents.market_maker import MarketMaker
from agents.neutral import MarketNeutralFund
from agents.retail import RetailCohort
from agents.value import ValueInvestors
from model.config import REFERENCE_ACCOUNTS, AssetConfig, ModelConfig
from model.engine.exchange import Exchange
from model.engine.margin import maintenance_margin
from model.opening import (
    BASIS_HEADROOM,
    MarketBook,
    capped_leverage,
    hedged_split,
    lots_for,
    margin_leverage,
)

SATELLITE_VALUE_DEPTHS = 50.0
"""Spot coins of the value traders on a satellite venue, in depths per asset, with no budget
limit: the rest of the world's spot holders, refilling the books from outside."""
VALUE_CASH_BUDGETS = 2.0
"""USD of the value investors' account, in latent books (plus the background traders' 20
depths): enough for their spot bids, the margin of their perp bids and of the 1x perp longs
they buy, so only the latent book limits them."""
SATELLITE_ARB_DEPTHS = 30.0
"""Arbitrageurs' perp exposure cap on a satellite venue, in depths per asset."""


def fund_accounts(
    ex: Exchange,
    assets: tuple[AssetConfig, ...],
    count: int,
    usd: float | np.ndarray,
    spot_depths: float = 0.0,
) -> np.ndarray:
    """Open `count` accounts with USD and, optionally, spot coins worth `spot_depths` × each
    asset's depth (floored to whole lots); return their ids."""
    ids = ex.open_accounts(count, usd)
    if spot_depths > 0:
        for a, asset in enumerate(assets):
            lot = ex.spots[a].lot_size
            coins = np.floor(spot_depths * asset.depth_usd / asset.price_usd / lot) * lot
            for acct in ids:
                if coins > 0:
                    ex.deposit_spot(int(acct), a, float(coins))
    return ids


def build_traders(model: mesa.Model) -> list:
    """Open and fund every trader's accounts and return the traders, in the order they act:
    makers, the retail crowd, basis traders, funds, noise, value, (macro sellers), arbitrage.
    `prices.discovery = "satellite"` swaps the value investors for deep-pocketed value traders
    and lifts the arbitrageurs' cap (SATELLITE_VALUE_DEPTHS, SATELLITE_ARB_DEPTHS)."""
    cfg, n, ex = model.cfg, len(model.cfg.assets), model.exchange
    r = cfg.retail
    kinds = {
        k: tuple(i for i, a in enumerate(cfg.assets) if a.kind == k)
        for k in ("major", "alt", "tail")
    }
    # the crowd's money does not depend on how many accounts stand for it
    median_usd = r.deposit_usd * REFERENCE_ACCOUNTS / r.n_accounts
    deposits = model.stream("retail.deposits").lognormal(
        np.log(median_usd), r.deposit_sigma, r.n_accounts
    )
    satellite = cfg.prices.discovery == "satellite"
    traders = [
        MarketMaker(
            model,
            fund_accounts(
                ex, cfg.assets, 1, cfg.makers.capital_usd, 3.0 / max(1, cfg.makers.n_makers)
            ),
            model.stream(f"maker.{i}"),
            cfg.makers,
            cfg.assets,
            maker_index=i,
            tether_share=cfg.prices.tether_share if satellite else None,
        )
        for i in range(cfg.makers.n_makers)
    ]
    retail_ids = fund_accounts(ex, cfg.assets, r.n_accounts, 0.0)
    cohort = RetailCohort(
        model,
        retail_ids,
        model.stream("retail"),
        r,
        n,
        deposits,
        deposit_scales=np.array([a.deposit_scale for a in cfg.assets]),
        leverage_scales=np.array([a.leverage_scale for a in cfg.assets]),
    )
    ex.deposit_many(retail_ids, cohort.initial_deposit_usd)
    traders.append(cohort)
    traders += [
        BasisTrader(
            model,
            fund_accounts(ex, cfg.assets, 1, cfg.basis.capital_usd),
            model.stream(f"basis.{i}"),
            cfg.basis,
            n,
        )
        for i in range(cfg.basis.n_traders)
    ]
    traders += [
        MarketNeutralFund(
            model,
            fund_accounts(ex, cfg.assets, 1, cfg.funds.capital_usd),
            model.stream(f"fund.{i}"),
            cfg.funds,
            n,
            majors=kinds["major"],
            basket=kinds["alt"],
        )
        for i in range(cfg.funds.n_funds)
    ]
    background_usd = 20.0 * sum(a.depth_usd for a in cfg.assets)
    # the latent book's bids out to its farthest level (64 %: 41 × those within 10 %)
    latent_usd = sum(a.latent_depths * a.depth_usd for a in cfg.assets) * 41.0
    bg = cfg.background
    traders.append(
        NoiseTraders(
            model,
            fund_accounts(ex, cfg.assets, 1, background_usd, 2.0),
            model.stream("noise"),
            bg,
            cfg.assets,
        )
    )
    if satellite:
        traders.append(
            ValueTraders(
                model,
                fund_accounts(ex, cfg.assets, 1, background_usd, SATELLITE_VALUE_DEPTHS),
                model.stream("value"),
                bg,
                cfg.assets,
            )
        )
    else:
        traders.append(
            ValueInvestors(
                model,
                fund_accounts(
                    ex,
                    cfg.assets,
                    1,
                    VALUE_CASH_BUDGETS * latent_usd + background_usd,
                    bg.value_coins_depths,
                ),
                model.stream("value"),
                bg,
                cfg.assets,
                latent_depths=np.array([a.latent_depths for a in cfg.assets]),
                refill_minutes=bg.value_refill_minutes,
                inner=bg.value_inner,
                exponent=bg.latent_exponent,
            )
        )
        traders.append(
            MacroSellers(
                model,
                fund_accounts(ex, cfg.assets, 1, background_usd, 5.0),
                model.stream("macro"),
                bg,
                cfg.assets,
            )
        )
    traders.append(
        Arbitrageurs(
            model,
            fund_accounts(ex, cfg.assets, 1, background_usd, 2.0),
            model.stream("arbitrage"),
            bg,
            cfg.assets,
            max_depths=SATELLITE_ARB_DEPTHS if satellite else bg.arb_max_depths,
        )
    )
    return traders


def open_positions(ex: Exchange, cfg: ModelConfig, traders: list) -> list[MarketBook]:
    """Open the positions the run starts with (`model/opening.py`), market by market, and
    return each market's opening book: the retail crowd's positions and the funds' legs, the
    net of them held short by basis traders and makers against spot coins they are given,
    and their margin (× BASIS_HEADROOM) deposited."""
    retail = next(t for t in traders if isinstance(t, RetailCohort))
    ids, assets, signed_usd, lev, iso = retail.opening_positions(
        np.array([a.price_usd for a in cfg.assets]),
        np.array([s.tiers.max_leverage[0] for s in ex.perps]),
    )
    funds = [t for t in traders if isinstance(t, MarketNeutralFund)]
    basis = [t.account for t in traders if isinstance(t, BasisTrader)]
    makers = [t.account for t in traders if isinstance(t, MarketMaker)]
    hedge_usd = dict.fromkeys([*basis, *makers], 0.0)  # collateral their shorts need
    books: list[MarketBook] = []
    for k, (asset, spec) in enumerate(zip(cfg.assets, ex.perps, strict=True)):
        price, lot, book = asset.price_usd, spec.lot_size, MarketBook()
        mine = assets == k
        margin = np.abs(signed_usd[mine]) / lev[mine]
        leverage = margin_leverage(margin, lev[mine], spec.tiers)
        lots = lots_for(margin * leverage, price, lot)
        book.add(ids[mine], np.sign(signed_usd[mine]).astype(np.int64) * lots, leverage, iso[mine])
        for fund in funds:
            target = fund.opening_targets(cfg.funds.capital_usd)[k]
            lots = int(np.sign(target)) * int(lots_for(abs(target), price, lot))
            book.add(fund.account, lots, fund.leverage_for(spec.tiers.max_leverage[0]), False)
        to_basis, to_makers = hedged_split(
            book.net_lots, cfg.basis.oi_share, len(basis), len(makers)
        )
        for holders, lots, leverage in (
            (basis, to_basis, cfg.basis.leverage),
            (makers, to_makers, cfg.makers.leverage),
        ):
            usd = np.abs(lots) * lot * price
            capped = capped_leverage(leverage, usd, spec.tiers)
            book.add(holders, lots, capped, False)
            for acct, n, notional, lev_k in zip(
                holders,
                lots.tolist(),
                usd.tolist(),
                np.atleast_1d(capped).tolist(),
                strict=True,
            ):
                hedge_usd[acct] += notional / lev_k + float(
                    maintenance_margin(notional, spec.tiers)
                )
                if n < 0:  # the hedge: spot coins held against the short
                    ex.deposit_spot(acct, k, -n * lot)
        books.append(book)
    for acct, usd in hedge_usd.items():
        if usd > 0:
            ex.deposit(acct, BASIS_HEADROOM * usd)
    for k, book in enumerate(books):
        ex.open_book(
            k, np.array(book.accounts), np.array(book.lots, dtype=np.int64),
            cfg.assets[k].price_usd, np.array(book.leverage), np.array(book.isolated),
        )  # fmt: skip
    return books
