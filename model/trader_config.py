"""The traders' settings: the retail crowd, market makers, basis traders, market-neutral funds
and the background flow (value investors, noise, arbitrage, macro sellers); each field with
unit, source and range (`model.engine.params`). `model.config.ModelConfig` holds one of each.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.engine.params import Validated, choice, param

NAKED_SPOT_RULES = ("immediate", "gradual", "hold")
BROKEN_HEDGE_RULES = ("cut", "hold")
MAX_ACCOUNTS = 5_000_000
"""Upper bound of `RetailConfig.n_accounts`: memory grows about linearly with the crowd."""


@dataclass(frozen=True)
class RetailConfig(Validated):
    """The retail crowd (vectorised cohorts)."""

    _prefix = "retail."
    n_accounts: int = param(
        10_000,
        "accounts",
        "scaled; 1.6M liquidated on 10 Oct (§7.1). At most 5,000,000: a day of 1,000,000 "
        "accounts peaks at 2 GB (docs/performance.md), so the cap keeps one run near 10 GB",
        1,
        MAX_ACCOUNTS,
    )
    deposit_usd: float = param(
        100_000.0,
        "USD median at 10,000 accounts (× 10,000 / n_accounts × the home asset's deposit_scale)",
        "a model account is a cohort of real ones: puts open interest at ≈ 100–150 depths "
        "within 1 % (BTC in reality ≈ 230×, exchange-mechanics §8.1); assumed",
        1.0,
    )
    deposit_sigma: float = param(
        0.5,
        "lognormal sigma",
        "a model account is a cohort of real ones, so its size is less dispersed than one "
        "trader's; assumed",
        0.0,
        3.0,
    )
    high_leverage_share: float = param(
        0.01, "share of accounts at 50–100x", "the main leverage-concentration knob", 0.0, 1.0
    )
    mid_leverage_share: float = param(
        0.0,
        "share of accounts at mid leverage",
        "the 8–25x traders whose liquidation prices lie a few to ~12 % away; a −14 % BTC day "
        "liquidated ≈ 7–8 % of BTC open interest (exchange-mechanics §7.1, §8.1); assumed",
        0.0,
        1.0,
    )
    moderate_leverage_share: float = param(
        0.0,
        "share of accounts at moderate leverage",
        "the 3–7x traders; on Hyperliquid (Dec 2025) 3–7x held 48 % of open interest, 0–3x "
        "36 % and above 7x the rest (docs/bibliography.md, added outside the notes)",
        0.0,
        1.0,
    )
    low_leverage: tuple[float, float] = param(
        (1.0, 4.0),
        "x",
        "most open interest is lightly levered: BTC OI halved on 10 Oct while only ≈ 7–8 % "
        "was liquidated (§8.1); assumed",
        1.0,
        150.0,
    )
    moderate_leverage: tuple[float, float] = param(
        (3.0, 7.0), "x", "the 3–7x bucket of Hyperliquid's open interest (bibliography)", 1.0, 150.0
    )
    mid_leverage: tuple[float, float] = param((8.0, 25.0), "x", "assumed", 1.0, 150.0)
    high_leverage: tuple[float, float] = param((50.0, 100.0), "x", "the seeds' 50–100x", 1.0, 150.0)
    long_bias: float = param(0.7, "share of entries long", "crowded longs before 10 Oct", 0.0, 1.0)
    position_fraction: float = param(0.6, "share of equity used as margin", "assumed", 0.01, 1.0)
    high_leverage_fraction: float = param(
        0.05,
        "share of equity a 50–100x account uses as margin",
        'a small stake at extreme leverage ("$100 on 100x"); assumed',
        0.01,
        1.0,
    )
    open_at_start: float = param(
        0.8,
        "share of accounts holding a position at minute 0",
        "the opening open-interest book (model/opening.py); assumed",
        0.0,
        1.0,
    )
    entry_prob: float = param(
        0.005,
        "per flat account per minute",
        "a liquidated or closed trader comes back within hours (mean 200 minutes), so the "
        "crowd at 50–100x is a standing stock, not a one-off; assumed",
        0.0,
        1.0,
    )
    trade_prob: float = param(
        0.0003,
        "per account in a position per minute",
        "turnover ≈ 0.4 of open interest a day, so daily volume ≈ 40–60 depths within 1 % "
        "(BTC ≈ $30B a day against ≈ $290M of 1 % depth ≈ 100, §8); assumed",
        0.0,
        1.0,
    )
    momentum: float = param(
        5.0,
        "entry tilt per unit 15-min return",
        "FOMO: after a 3 % fall in 15 minutes, 15 points fewer entries are long; assumed "
        "(at 20, momentum shorts alone dragged prices past the news after a shock)",
        0.0,
        1_000.0,
    )
    take_profit: float = param(1.0, "gain / margin", "assumed", 0.0, 100.0)
    stop_loss_share: float = param(0.1, "share of accounts with a stop-loss", "assumed", 0.0, 1.0)
    stop_loss: float = param(0.5, "loss / margin that triggers the stop", "assumed", 0.01, 1.0)
    isolated_share: float = param(0.3, "share of accounts in isolated margin", "assumed", 0.0, 1.0)
    funding_aware_share: float = param(
        0.2,
        "share that skips longs when funding is high",
        "funding-blind by default (seeds)",
        0.0,
        1.0,
    )
    reentry_prob: float = param(
        0.0005, "per ruined account per minute", "new deposits after ruin, assumed", 0.0, 1.0
    )
    asset_weights: tuple[float, ...] = param(
        (0.3, 0.2, 0.1, 0.1, 0.15, 0.15), "share of accounts per asset", "assumed", 0.0, 1.0
    )


@dataclass(frozen=True)
class MakerConfig(Validated):
    """Market makers quoting spot and perp ladders."""

    _prefix = "makers."
    n_makers: int = param(2, "agents", "assumed", 0, 20)
    capital_usd: float = param(50_000_000.0, "USD each", "assumed", 0.0)
    levels: int = param(6, "levels per side", "assumed", 1, 50)
    leverage: float = param(5.0, "x on perp quotes", "assumed", 1.0, 20.0)
    inventory_skew: float = param(
        2.0, "spread shift per unit of inventory / depth", "assumed", 0.0, 10.0
    )
    basis_skew_bps: float = param(
        0.1,
        "bp of perp premium per depth of perp inventory",
        "makers price the basis they carry; sets pre-shock funding (assumed)",
        0.0,
        100.0,
    )
    vol_widen: float = param(300.0, "spread multiplier per unit 1-h vol", "assumed", 0.0, 1e6)
    pull_vol: float = param(0.01, "1-min vol above which quotes are pulled", "assumed", 0.0, 1.0)
    fair_value_minutes: float = param(
        1.0,
        "minutes of the makers' exponential average of the index they quote around",
        "book resilience (Obizhaeva & Wang 2013): 1 quotes around the index itself; assumed",
        1.0,
        240.0,
    )
    requote_minutes: int = param(
        1,
        "minutes between requotes (staggered across makers and assets)",
        "real makers requote in milliseconds; slower requotes make 1-min returns autocorrelated",
        1,
        60,
    )


@dataclass(frozen=True)
class BasisConfig(Validated):
    """Basis traders: long spot, short perp while carry pays."""

    _prefix = "basis."
    n_traders: int = param(3, "agents", "assumed", 0, 50)
    capital_usd: float = param(2_000_000.0, "USD each", "assumed", 0.0)
    leverage: float = param(3.0, "x on the short perp leg", "2–5x (issue 4)", 1.0, 20.0)
    oi_share: float = param(
        0.6,
        "share of the hedged short side of the opening book held by basis traders",
        "the rest by makers (model/opening.py); CME basis books ≈ 25–30 % of BTC OI, Ethena "
        "5–30 % of ETH OI (exchange-mechanics §8.1); assumed",
        0.0,
        1.0,
    )
    entry_apr: float = param(0.15, "annualised funding to enter", "assumed", -1.0, 10.0)
    exit_apr: float = param(0.0, "annualised funding to unwind", "assumed", -1.0, 10.0)
    naked_spot: str = choice(
        "immediate",
        NAKED_SPOT_RULES,
        "spot left naked after the short leg was liquidated or ADL'd: immediate (sell at "
        "once), gradual (sell over `unwind_minutes`) or hold (keep it: the second round "
        "switched off), assumed",
    )
    unwind_minutes: int = param(30, "minutes", "assumed", 1)


@dataclass(frozen=True)
class FundConfig(Validated):
    """Market-neutral funds: long alts vs short majors at a hedge ratio, cross margin."""

    _prefix = "funds."
    n_funds: int = param(2, "agents", "assumed", 0, 50)
    capital_usd: float = param(2_000_000.0, "USD each", "assumed", 0.0)
    gross_leverage: float = param(2.0, "gross notional / equity", "assumed", 0.1, 20.0)
    hedge_ratio: float = param(1.0, "short / long notional", "assumed", 0.0, 3.0)
    rebalance_band: float = param(0.1, "relative drift before rebalancing", "assumed", 0.0, 1.0)
    drawdown_limit: float = param(0.2, "equity drawdown that halves gross", "assumed", 0.0, 1.0)
    on_broken_hedge: str = choice(
        "cut",
        BROKEN_HEDGE_RULES,
        "when ADL or liquidation takes the short leg: cut (sell the alts to the hedge ratio at "
        "once, the seeds' inventory dumping) or hold (keep the book: the second round "
        "switched off), assumed",
    )


@dataclass(frozen=True)
class BackgroundConfig(Validated):
    """Noise flow, value investors (finite capital) and perp–spot arbitrage (finite capital).

    In the `venue` price discovery these are the only paths by which the fundamental reaches
    prices (Thurner, Farmer & Geanakoplos 2012: value investors with finite wealth;
    Brunnermeier & Pedersen 2009: speculators' capital is what provides liquidity).
    """

    _prefix = "background."
    noise_usd: float = param(0.02, "USD per minute per unit depth", "assumed", 0.0, 10.0)
    value_strength: float = param(0.5, "fraction of the gap closed per minute", "assumed", 0.0, 1.0)
    value_coins_depths: float = param(
        300.0,
        "spot coins per asset, in depths",
        "value investors' inventory, sold above value: the world's spot holders, worth more "
        "than the open interest (BTC's market value is ≈ 35× its OI, §8.1), so hedgers "
        "buying spot do not exhaust it; assumed",
        0.0,
        10_000.0,
    )
    value_refill_minutes: float = param(
        120.0,
        "minutes to refill an emptied level of the latent book",
        "new money arrives over hours, not minutes (Thurner et al. 2012 investor flows); assumed",
        1.0,
        1e6,
    )
    value_inner: float = param(
        0.005,
        "distance of the value ladder's nearest level from value, fraction",
        "levels at inner · √2^j below and above value (agents/value.py); assumed",
        1e-4,
        0.5,
    )
    latent_exponent: float = param(
        2.0,
        "shape p of the latent bid book, cumulative depth ∝ distance^p",
        "2: square-root impact (Tóth et al. 2011), 1: linear (Kyle 1985); assumed between",
        0.5,
        3.0,
    )
    arb_threshold: float = param(0.002, "perp–spot gap that arbitrage trades", "assumed", 0.0, 1.0)
    arb_usd: float = param(0.2, "USD per minute per unit depth", "assumed", 0.0, 10.0)
    arb_max_depths: float = param(
        3.0,
        "perp exposure cap per asset, in depths",
        "arbitrage capital is finite (Brunnermeier & Pedersen 2009); assumed",
        0.0,
        1_000.0,
    )
