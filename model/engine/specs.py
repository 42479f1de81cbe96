"""Market specifications: the venue rules of each perp and spot market, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.engine import validate as v
from model.engine.pricing import MARK_RULES
from model.engine.tiers import BTCUSDT_2025, SMALL_CAP_50X, TierTable

FLAT_LIQUIDATION_FEE = 0.005
"""Binance's flat clearance fee before per-symbol fees (0.5 %, §2.3): for tables without one."""


FUNDING_PRICES = ("mark", "oracle")


@dataclass(frozen=True)
class FundingSpec:
    """Funding parameters (Binance USDⓈ-M §2.5 by default; `hyperliquid_funding` §5.6).

    F = P + clamp(I − P, −clamp, +clamp) (the 8-hour formula); each interval pays
    clamp(rate_share · F, −cap, +cap) of the position's value at `price`.
    """

    interval_minutes: int = 480
    """Settlement interval; 8 h is Binance's default (00/08/16 UTC)."""
    interest_rate: float = 0.0001
    """I, per 8 h: 0.01 % (Binance, Hyperliquid, BitMEX)."""
    clamp: float = 0.0005
    """Band on (I − P): ±0.05 % (Binance, Hyperliquid)."""
    cap: float = 0.003
    """Cap on |rate| per interval: BTCUSDT ±0.3 %, many alts ±2–3 % (Binance 2023–2025);
    Hyperliquid 4 % per hour."""
    enabled: bool = True
    rate_share: float = 1.0
    """Share of F paid each interval: Binance 1 (F every 8 h); Hyperliquid 1/8 (F/8 hourly)."""
    price: str = "mark"
    """The price payments are valued at: Binance the mark; Hyperliquid the oracle (index)."""

    def __post_init__(self) -> None:
        if not isinstance(self.interval_minutes, int) or self.interval_minutes <= 0:
            raise ValueError(
                f"funding.interval_minutes must be a positive int, got {self.interval_minutes!r}"
            )
        v.finite("funding.interest_rate", self.interest_rate)
        v.non_negative("funding.clamp", self.clamp)
        v.positive("funding.cap", self.cap)
        v.in_range("funding.rate_share", self.rate_share, 0.0, 1.0, open_lo=True)
        v.one_of("funding.price", self.price, FUNDING_PRICES)


def hyperliquid_funding() -> FundingSpec:
    """Hyperliquid: the 8-hour formula rate F paid hourly at F/8 on the oracle price, capped
    at 4 % per hour (exchange-mechanics.md §5.6; the docs' 1-hour label on F read as the
    8-hour rate, §10 item 5)."""
    return FundingSpec(interval_minutes=60, cap=0.04, rate_share=1 / 8, price="oracle")


@dataclass(frozen=True)
class MarketSpec:
    """One linear USD-margined perpetual (one contract = one coin)."""

    symbol: str
    tick_size: float
    """USD per tick."""
    lot_size: float
    """Coins per lot (minimum size step)."""
    tiers: TierTable
    maker_fee: float = 0.0002
    """Fraction of notional; Binance VIP0 USDⓈ-M maker 0.02 %."""
    taker_fee: float = 0.0005
    """Fraction of notional; Binance VIP0 USDⓈ-M taker 0.05 %."""
    liquidation_fee: float | None = None
    """Clearance fee on the liquidated amount, to the insurance pool; None: the tier table's
    per-symbol fee (`TierTable.clearance_fee`: Binance 2025, 1–1.25 %), or Binance's earlier
    flat 0.5 % (§2.3) when the table has none."""
    funding: FundingSpec = field(default_factory=FundingSpec)
    impact_notional_usd: float = 0.0
    """Notional for impact bid/ask; 0 means Binance's 200 USDT / IMR at max leverage (§2.5)."""
    mark_rule: str = "binance"
    """binance = median(index·(1+F·τ), index + MA basis, last); index; last (§2.4)."""

    def __post_init__(self) -> None:
        name = f"market[{self.symbol!r}]"
        if not self.symbol:
            raise ValueError("market.symbol must be a non-empty string")
        v.positive(f"{name}.tick_size", self.tick_size)
        v.positive(f"{name}.lot_size", self.lot_size)
        v.non_negative(f"{name}.maker_fee", self.maker_fee)
        v.non_negative(f"{name}.taker_fee", self.taker_fee)
        v.non_negative(f"{name}.impact_notional_usd", self.impact_notional_usd)
        v.one_of(f"{name}.mark_rule", self.mark_rule, MARK_RULES)
        if not isinstance(self.tiers, TierTable):
            raise ValueError(f"{name}.tiers must be a TierTable, got {type(self.tiers).__name__}")
        if self.liquidation_fee is None:
            fee = self.tiers.clearance_fee
            object.__setattr__(
                self, "liquidation_fee", FLAT_LIQUIDATION_FEE if fee is None else fee
            )
        v.in_range(f"{name}.liquidation_fee", self.liquidation_fee, 0.0, 1.0, open_hi=True)

    @property
    def impact_usd(self) -> float:
        """Impact margin notional: the configured one, else 200 USD / IMR at max leverage."""
        if self.impact_notional_usd > 0:
            return self.impact_notional_usd
        return 200.0 * float(self.tiers.max_leverage[0])


@dataclass(frozen=True)
class SpotSpec:
    """One spot market (asset against USD)."""

    symbol: str
    tick_size: float
    lot_size: float
    maker_fee: float = 0.0001
    taker_fee: float = 0.001
    """Binance spot VIP0 is 0.1 % both ways; the maker discount stands for rebated makers."""

    def __post_init__(self) -> None:
        name = f"spot[{self.symbol!r}]"
        if not self.symbol:
            raise ValueError("spot.symbol must be a non-empty string")
        v.positive(f"{name}.tick_size", self.tick_size)
        v.positive(f"{name}.lot_size", self.lot_size)
        v.non_negative(f"{name}.maker_fee", self.maker_fee)
        v.non_negative(f"{name}.taker_fee", self.taker_fee)


def btc_perp(**overrides: object) -> MarketSpec:
    """BTCUSDT with the 2025 bracket table (exchange-mechanics.md §2.1, Table B)."""
    base = {"symbol": "BTCUSDT", "tick_size": 0.1, "lot_size": 0.001, "tiers": BTCUSDT_2025}
    return MarketSpec(**{**base, **overrides})  # type: ignore[arg-type]


def small_cap_perp(symbol: str = "ALTUSDT", **overrides: object) -> MarketSpec:
    """A long-tail perp on the 50x small-cap template (§2.1, Table C) with ±2 % funding cap."""
    base = {
        "symbol": symbol,
        "tick_size": 0.0001,
        "lot_size": 1.0,
        "tiers": SMALL_CAP_50X,
        "funding": FundingSpec(cap=0.02),
    }
    return MarketSpec(**{**base, **overrides})  # type: ignore[arg-type]
