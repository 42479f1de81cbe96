"""The model's configuration: one frozen dataclass tree, each field with unit, source and range.

Ranges are declared once, in field metadata, and serve validation, the CLI's `list` and the
teaching page's sliders; `model.overrides` reads and replaces fields by dotted key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.engine.params import Validated, choice, param
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import LiquidationConfig

DISCOVERY_MODES = ("venue", "satellite")
ASSET_KINDS = ("major", "alt", "tail")
NAKED_SPOT_RULES = ("immediate", "gradual")
REFERENCE_ACCOUNTS = 10_000
"""Crowd size at which `retail.deposit_usd` is each account's median deposit; with n accounts
each deposit is scaled by REFERENCE_ACCOUNTS / n, so the crowd's money, and open interest,
do not depend on how many accounts stand for it (fewer accounts are only coarser)."""


@dataclass(frozen=True)
class AssetConfig(Validated):
    """One asset of the universe: its spot and perp markets and its exogenous dynamics."""

    _prefix = "asset."
    symbol: str = "BTC"
    price_usd: float = param(100_000.0, "USD", "BTC ~100–122k in Oct 2025 (literature §2.4)", 1e-6)
    kind: str = choice(
        "major",
        ASSET_KINDS,
        "major (BTCUSDT 2025 tiers), alt (BTCUSDT 2021 tiers), tail (50x small-cap template)",
    )
    beta: float = param(1.0, "factor loading", "majors ≈1, long tail 1.5–3 (issue 4)", 0.0, 10.0)
    idio_vol: float = param(0.0003, "per minute", "idiosyncratic noise, assumed", 0.0, 0.05)
    depth_usd: float = param(
        2_000_000.0,
        "USD per side within ~1 %",
        "scaled from BTC $16.5M within 100 bp (exchange-mechanics §8)",
        1.0,
    )
    spread_bps: float = param(
        2.0, "bp between ladder levels", "majors single-digit bp (§7.1)", 0.1, 500.0
    )
    liquidation_fee: float = param(0.005, "fraction", "Binance 0.5 % (§2.3)", 0.0, 0.1)
    deposit_scale: float = param(
        1.0,
        "multiplier on retail.deposit_usd for accounts trading this asset",
        "long-tail traders hold smaller accounts, so each position is small against a thin "
        "book while open interest stays 50–250 depths (§8.1); assumed",
        1e-6,
        1e6,
    )
    leverage_scale: float = param(
        1.0,
        "multiplier on the leverage of retail accounts trading this asset",
        "long-tail traders chase with more leverage (capped by the asset's brackets); assumed",
        0.1,
        10.0,
    )
    latent_depths: float = param(
        10.0,
        "depths of value investors' bids within 10 % below value",
        "the latent book's depth (agents/value.py; square-root impact: Q depths of selling "
        "reach 10 % · √(Q / latent_depths) below value); calibrated to 10 Oct 2025, assumed",
        0.0,
        1e4,
    )


@dataclass(frozen=True)
class ShockConfig(Validated):
    """A macro shock: the common factor falls by `size` over `duration_minutes`."""

    _prefix = "shock."
    start_minute: int = param(720, "minute", "the tariff post hit at ~20:50 UTC (§7.1)", 0)
    duration_minutes: int = param(30, "minutes", "70 % of liquidations in 40 min (§7.1)", 1)
    size: float = param(0.10, "fraction of the factor", "BTC −10–15 % on 10 Oct (§7.1)", 0.0, 0.9)
    mm_risk_off: float = param(
        0.8, "fraction of depth withdrawn", "depth −90–98 % (§7.1)", 0.0, 1.0
    )
    recovery_minutes: int = param(240, "minutes", "depth returned over hours, assumed", 1)
    sell_flow_usd: float = param(
        0.0,
        "USD per minute per unit depth",
        "exogenous sellers, fraction of each asset's depth",
        0.0,
        5.0,
    )


@dataclass(frozen=True)
class WorldConfig(Validated):
    """Exogenous fundamentals: log return = beta · factor + idiosyncratic noise.

    The factor's variance follows GARCH(1,1) (Bollerslev 1986) with unconditional variance
    factor_vol²; with vol_reaction = vol_persistence = 0 it is constant (the default).
    """

    _prefix = "world."
    factor_vol: float = param(0.0006, "per minute", "BTC ~2.3 % daily vol", 0.0, 0.05)
    vol_reaction: float = param(
        0.0,
        "GARCH(1,1) α",
        "weight of the last squared factor return in its variance; 0 = constant volatility",
        0.0,
        0.5,
    )
    vol_persistence: float = param(
        0.0,
        "GARCH(1,1) α + β",
        "how slowly factor volatility decays (half-life ln 0.5 / ln(α + β) minutes)",
        0.0,
        0.99999,
    )
    tail_dof: float = param(
        0.0,
        "Student-t degrees of freedom",
        "heavy-tailed factor shocks (scaled to unit variance); 0 = Gaussian",
        0.0,
        1_000.0,
    )

    def check(self) -> None:
        """Cross-field rules (run by ModelConfig, after every override is applied)."""
        if self.vol_reaction > self.vol_persistence:
            raise ValueError(
                f"world.vol_reaction ({self.vol_reaction}) must be at most world.vol_persistence"
                f" ({self.vol_persistence}): β = persistence − reaction cannot be negative"
            )
        if 0.0 < self.tail_dof <= 2.0:
            raise ValueError(
                f"world.tail_dof must be 0 (Gaussian) or above 2 (finite variance), got "
                f"{self.tail_dof}"
            )


@dataclass(frozen=True)
class RetailConfig(Validated):
    """The retail crowd (vectorised cohorts)."""

    _prefix = "retail."
    n_accounts: int = param(10_000, "accounts", "scaled; 1.6M liquidated on 10 Oct (§7.1)", 1)
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
    low_leverage: tuple[float, float] = param(
        (1.0, 4.0),
        "x",
        "most open interest is lightly levered: BTC OI halved on 10 Oct while only ≈ 7–8 % "
        "was liquidated (§8.1); assumed",
        1.0,
        150.0,
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
        "once) or gradual (sell over `unwind_minutes`), assumed",
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


@dataclass(frozen=True)
class PricesConfig(Validated):
    """Where prices are discovered (DESIGN.md §2.3).

    `venue` (the default): this market is the price-setting market. Makers quote around
    their own book, inventory and the index; the fundamental reaches prices only through value
    investors and arbitrageurs with finite capital, so forced selling can push prices away
    from it. `satellite`: a venue tethered to an outside price (the fundamental), the model
    before the endogenous cascade: makers carry the outside price's moves at once and close
    `tether_share` of their remaining log gap to it at every requote, value traders hold 50
    depths of coins with an unlimited budget and arbitrageurs may hold 30 depths.
    """

    _prefix = "prices."
    discovery: str = choice(
        "venue", DISCOVERY_MODES, "venue: prices found on the venue (DESIGN.md §2.3); satellite"
    )
    tether_share: float = param(
        0.5,
        "share of the log gap to the outside price closed per requote",
        "satellite only; the former SPOT_ANCHOR (assumed)",
        0.0,
        1.0,
    )


def default_assets() -> tuple[AssetConfig, ...]:
    """Two majors, two large alts, two long-tail perps (issue 4).

    Positional columns: symbol, price, kind, beta, idiosyncratic vol, depth, level spacing,
    liquidation fee; then the retail crowd's deposit and leverage scales and the latent
    book's depth, by name.
    """
    return (
        AssetConfig("BTC", 100_000.0, "major", 1.0, 0.0002, 2_000_000.0, 1.0, 0.005,
                    deposit_scale=1.0, latent_depths=6.0),
        AssetConfig("ETH", 4_000.0, "major", 1.2, 0.0003, 1_200_000.0, 1.5, 0.005,
                    deposit_scale=1.0, latent_depths=6.0),
        AssetConfig("SOL", 200.0, "alt", 1.5, 0.0004, 400_000.0, 3.0, 0.005,
                    deposit_scale=0.5, latent_depths=4.0),
        AssetConfig("DOGE", 0.25, "alt", 1.8, 0.0005, 250_000.0, 4.0, 0.005,
                    deposit_scale=0.32, latent_depths=4.0),
        AssetConfig("TAILA", 1.0, "tail", 2.5, 0.0005, 150_000.0, 15.0, 0.0075,
                    deposit_scale=0.12, latent_depths=8.0),
        AssetConfig("TAILB", 0.1, "tail", 3.0, 0.0006, 100_000.0, 20.0, 0.0075,
                    deposit_scale=0.12, latent_depths=8.0),
    )  # fmt: skip


@dataclass(frozen=True)
class ModelConfig(Validated):
    """Everything a run needs. One step is one minute."""

    horizon_minutes: int = param(1_440, "minutes", "one simulated day", 1)
    tier_scale: float = param(
        100.0,
        "multiplier on every margin bracket's notional floor",
        "a model account stands for a cohort of real accounts (10,000 hold an open interest "
        "of 50–250 depths), and the venues' brackets apply to each real account; assumed",
        1.0,
        1e6,
    )
    assets: tuple[AssetConfig, ...] = field(default_factory=default_assets)
    world: WorldConfig = field(default_factory=WorldConfig)
    shocks: tuple[ShockConfig, ...] = ()
    retail: RetailConfig = field(default_factory=RetailConfig)
    makers: MakerConfig = field(default_factory=MakerConfig)
    basis: BasisConfig = field(default_factory=BasisConfig)
    funds: FundConfig = field(default_factory=FundConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    prices: PricesConfig = field(default_factory=PricesConfig)
    liquidation: LiquidationConfig = field(
        default_factory=lambda: LiquidationConfig(
            pool_initial_usd=(3_000_000.0, 2_000_000.0, 3_000_000.0)
        )
    )
    mark_rule: str = choice("binance", MARK_RULES, "Binance median of three (§2.4)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.retail.asset_weights) != len(self.assets):
            raise ValueError(
                f"retail.asset_weights needs {len(self.assets)} weights (one per asset), got "
                f"{self.retail.asset_weights!r}"
            )
        for i, shock in enumerate(self.shocks):
            if shock.start_minute >= self.horizon_minutes:
                raise ValueError(
                    f"shocks.{i}.start_minute={shock.start_minute} is after the "
                    f"horizon ({self.horizon_minutes} minutes)"
                )
        if self.retail.high_leverage_share + self.retail.mid_leverage_share > 1.0:
            raise ValueError(
                "retail.high_leverage_share + retail.mid_leverage_share must be at most 1, got "
                f"{self.retail.high_leverage_share} + {self.retail.mid_leverage_share}"
            )
        for name in ("low_leverage", "mid_leverage", "high_leverage"):
            lo, hi = getattr(self.retail, name)
            if not 0 < lo <= hi:
                raise ValueError(
                    f"retail.{name} must be (min, max) with 0 < min <= max, got {(lo, hi)!r}"
                )
        self.world.check()
