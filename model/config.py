"""The model's configuration: one frozen dataclass tree, each field with unit, source and range.

Ranges are declared once, in field metadata, and serve validation, the CLI's `list` and the
teaching page's sliders; `model.overrides` reads and replaces fields by dotted key. The
markets, the world, shocks and prices are here; the traders' sections in `model.trader_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.engine.params import Validated, choice, param
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import LiquidationConfig
from model.trader_config import (
    BackgroundConfig,
    BasisConfig,
    FundConfig,
    MakerConfig,
    RetailConfig,
)
from model.venues import VENUES

DISCOVERY_MODES = ("venue", "satellite")
ASSET_KINDS = ("major", "alt", "tail")
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
    liquidation_fee: float | None = param(
        None,
        "fraction of the amount liquidated",
        "None: the symbol's tier table (TierTable.clearance_fee: Binance 2025 per symbol, "
        "majors 1.25 %, long tail 1 %; the 2021 alt table has none, so 0.5 %) (§2.3)",
        0.0,
        0.1,
    )
    venue: str = choice(
        "binance",
        VENUES,
        "this market's own rules: binance (8-h funding on the mark, the tier table's clearance "
        "fee) or hyperliquid (F/8 hourly on the oracle, capped 4 %/h; no clearance fee) "
        "(model/venues.py, exchange-mechanics §2.5, §5.6)",
    )
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
        AssetConfig("BTC", 100_000.0, "major", 1.0, 0.0002, 2_000_000.0, 1.0, None,
                    deposit_scale=1.0, latent_depths=6.0),
        AssetConfig("ETH", 4_000.0, "major", 1.2, 0.0003, 1_200_000.0, 1.5, None,
                    deposit_scale=1.0, latent_depths=6.0),
        AssetConfig("SOL", 200.0, "alt", 1.5, 0.0004, 400_000.0, 3.0, None,
                    deposit_scale=0.5, latent_depths=4.0),
        AssetConfig("DOGE", 0.25, "alt", 1.8, 0.0005, 250_000.0, 4.0, None,
                    deposit_scale=0.32, latent_depths=4.0),
        AssetConfig("TAILA", 1.0, "tail", 2.5, 0.0005, 150_000.0, 15.0, None,
                    deposit_scale=0.12, latent_depths=8.0),
        AssetConfig("TAILB", 0.1, "tail", 3.0, 0.0006, 100_000.0, 20.0, None,
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
                    f"horizon ({self.horizon_minutes} minutes): set shocks.{i}.start_minute "
                    f"below {self.horizon_minutes} (e.g. shocks.{i}.start_minute="
                    f"{self.horizon_minutes // 2}) or horizon_minutes above {shock.start_minute}"
                )
        shares = ("high_leverage_share", "mid_leverage_share", "moderate_leverage_share")
        if sum(getattr(self.retail, name) for name in shares) > 1.0:
            raise ValueError(
                " + ".join(f"retail.{name}" for name in shares)
                + " must be at most 1, got "
                + " + ".join(str(getattr(self.retail, name)) for name in shares)
            )
        for name in ("low_leverage", "moderate_leverage", "mid_leverage", "high_leverage"):
            lo, hi = getattr(self.retail, name)
            if not 0 < lo <= hi:
                raise ValueError(
                    f"retail.{name} must be (min, max) with 0 < min <= max, got {(lo, hi)!r}"
                )
        self.world.check()
