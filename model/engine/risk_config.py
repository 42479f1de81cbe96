"""Configuration of the liquidation engine, the insurance pools and the loss-absorption policy."""

from __future__ import annotations

from dataclasses import dataclass

from model.engine import validate as v
from model.engine.absorption import POLICIES

POOL_MODES = ("shared", "per_market", "grouped")
PARTIAL_RULES = ("binance", "chunks", "none")
ADL_SCORES = ("bitmex", "binance")
PRO_RATA_SPACES = ("wealth", "contract")
FORCED_CLOSES = ("book", "off_book")


@dataclass(frozen=True)
class LiquidationConfig:
    """How accounts below maintenance are closed and who absorbs what the book cannot.

    Sources: exchange-mechanics.md §2.3 (Binance process, insurance fund), §2.6 and §3.4
    (ADL), §3.1 (socialised loss), §4.1–4.2 (drawdown triggers), §5.2–5.3 (Hyperliquid chunks,
    backstop vault), §7.3 (Chitra: pro-rata, capped pro-rata, water-filling).
    """

    enabled: bool = True
    """Switch the whole liquidation engine off (accounts then run negative)."""
    partial_rule: str = "binance"
    """binance: one IOC sized to restore margin; chunks: Hyperliquid 20 % slices of large
    positions; none: close the whole position at once."""
    chunk_fraction: float = 0.2
    """Hyperliquid: positions above the threshold are liquidated 20 % per order (§5.2)."""
    chunk_threshold_usd: float = 100_000.0
    """Hyperliquid: only positions above 100k USDC are chunked (§5.2)."""
    price_band: float = 0.05
    """Liquidation orders walk the book no further than this fraction from the mark."""
    residual_to_pool: float = 1.0
    """Share of margin left after a full close that goes to the pool (Binance: "a portion";
    Hyperliquid book liquidations: 0, it stays with the trader)."""
    max_rounds: int = 10
    """Cap on liquidate → re-mark → rescan rounds within one step."""
    insurance_enabled: bool = True
    """Switch the pools off: no shortfall cover, no takeover; the policy applies at once."""
    pool_mode: str = "grouped"
    """shared: one pool; per_market: one per perp; grouped: majors own pools, the rest share
    one (Binance: BTCUSDT and ETHUSDT have their own fund, all others share, §2.3)."""
    major_markets: tuple[int, ...] = (0, 1)
    """Perps with their own pool in grouped mode."""
    pool_initial_usd: float | tuple[float, ...] = 1_000_000.0
    """Starting balance of each pool (one number for all, or one per pool)."""
    pool_max_position_ratio: float = 1.0
    """Max gross notional a pool may hold relative to its equity (Binance: 100 %, §2.3)."""
    pool_unwind_fraction: float = 0.1
    """Fraction of each pool-held position sold back into the book each step."""
    drawdown_trigger: float | None = None
    """ADL when a pool has fallen this fraction from its peak within the window (OKX 30 % /
    8 h; Bybit −30 %), even if it still has money; None: only when it is empty."""
    drawdown_window_minutes: int = 480
    policy: str = "adl_queue"
    """Loss absorption once the pool cannot cover: one of POLICIES."""
    adl_score: str = "bitmex"
    """bitmex: PnL% × effective leverage (§3.4); binance: documented LeveragePnL (§2.6)."""
    pro_rata_space: str = "wealth"
    """adl_pro_rata in wealth space (haircut of profit, Chitra) or contract space (Drift)."""
    vault_initial_usd: float = 0.0
    """Capital of the backstop vault (backstop_vault policy)."""
    vault_equity_floor_usd: float = 0.0
    """Below this equity the vault stops taking positions and adl_queue applies."""
    vault_max_position_ratio: float = 3.0
    """Max gross notional the vault may hold relative to its equity."""
    hedge_band: float = 0.2
    """An account is hedged when |net USD delta| ≤ band × gross exposure (spot + perp)."""
    forced_closes: str = "book"
    """Where the engine's own closes (liquidations, pool unwinds) execute. book: into the
    order books, as on every venue; off_book: from minute `off_book_from_minute` on, at the
    mark against a sink outside the books (the counterfactual twin, DESIGN.md §2.3: the same
    run without the price impact of forced selling; money is accounted exactly as a fill)."""
    off_book_from_minute: int = 0
    """With forced closes off the book, the minute from which they go to the sink (the twin
    sets the shock's start: before it the twin is the run itself, minute for minute)."""

    def __post_init__(self) -> None:
        v.one_of("liquidation.partial_rule", self.partial_rule, PARTIAL_RULES)
        v.one_of("liquidation.pool_mode", self.pool_mode, POOL_MODES)
        v.one_of("liquidation.policy", self.policy, POLICIES)
        v.one_of("liquidation.adl_score", self.adl_score, ADL_SCORES)
        v.one_of("liquidation.pro_rata_space", self.pro_rata_space, PRO_RATA_SPACES)
        v.one_of("liquidation.forced_closes", self.forced_closes, FORCED_CLOSES)
        if not isinstance(self.off_book_from_minute, int) or self.off_book_from_minute < 0:
            raise ValueError(
                "liquidation.off_book_from_minute must be an int >= 0, got "
                f"{self.off_book_from_minute!r}"
            )
        v.in_range("liquidation.price_band", self.price_band, 0.0, 1.0, open_lo=True, open_hi=True)
        v.in_range("liquidation.chunk_fraction", self.chunk_fraction, 0.0, 1.0, open_lo=True)
        v.non_negative("liquidation.chunk_threshold_usd", self.chunk_threshold_usd)
        v.in_range("liquidation.residual_to_pool", self.residual_to_pool, 0.0, 1.0)
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise ValueError(f"liquidation.max_rounds must be an int >= 1, got {self.max_rounds!r}")
        balances = self.pool_initial_usd
        for i, b in enumerate(balances if isinstance(balances, tuple) else (balances,)):
            v.non_negative(f"liquidation.pool_initial_usd[{i}]", b)
        v.positive("liquidation.pool_max_position_ratio", self.pool_max_position_ratio)
        v.in_range("liquidation.pool_unwind_fraction", self.pool_unwind_fraction, 0.0, 1.0)
        if self.drawdown_trigger is not None:
            v.in_range(
                "liquidation.drawdown_trigger",
                self.drawdown_trigger,
                0.0,
                1.0,
                open_lo=True,
                open_hi=True,
            )
        v.positive("liquidation.drawdown_window_minutes", self.drawdown_window_minutes)
        v.non_negative("liquidation.vault_initial_usd", self.vault_initial_usd)
        v.finite("liquidation.vault_equity_floor_usd", self.vault_equity_floor_usd)
        v.positive("liquidation.vault_max_position_ratio", self.vault_max_position_ratio)
        v.in_range("liquidation.hedge_band", self.hedge_band, 0.0, 1.0, open_lo=True)

    def pool_of_market(self, n_markets: int) -> tuple[int, ...]:
        """Pool index of each perp under the pool mode."""
        if self.pool_mode == "shared":
            return (0,) * n_markets
        if self.pool_mode == "per_market":
            return tuple(range(n_markets))
        majors = [k for k in self.major_markets if k < n_markets]
        tail = len(majors)
        return tuple(majors.index(k) if k in majors else tail for k in range(n_markets))

    def pool_balances(self, n_pools: int) -> tuple[float, ...]:
        """Initial balance of each pool; raises if a per-pool tuple has the wrong length."""
        if not isinstance(self.pool_initial_usd, tuple):
            return (float(self.pool_initial_usd),) * n_pools
        if len(self.pool_initial_usd) != n_pools:
            raise ValueError(
                f"liquidation.pool_initial_usd needs {n_pools} balances for pool_mode="
                f"{self.pool_mode!r}, got {self.pool_initial_usd!r}"
            )
        return tuple(float(b) for b in self.pool_initial_usd)
