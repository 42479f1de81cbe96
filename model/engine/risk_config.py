"""Configuration of the liquidation engine, the insurance pools and the loss-absorption policy."""

from __future__ import annotations

from dataclasses import dataclass

from model.engine.absorption import POLICIES
from model.engine.params import Validated, choice, param

POOL_MODES = ("shared", "per_market", "grouped")
PARTIAL_RULES = ("binance", "chunks", "none")
ADL_SCORES = ("bitmex", "binance", "hyperliquid")
ADL_PRICES = ("bankruptcy", "mark")
PRO_RATA_SPACES = ("wealth", "contract")
FORCED_CLOSES = ("book", "off_book")


@dataclass(frozen=True)
class LiquidationConfig(Validated):
    """How accounts below maintenance are closed and who absorbs what the book cannot.

    Sources: exchange-mechanics.md §2.3 (Binance process, insurance fund), §2.6 and §3.4
    (ADL), §3.1 (socialised loss), §4.1–4.2 (drawdown triggers), §5.2–5.3 (Hyperliquid chunks,
    backstop vault), §7.3 (Chitra: pro-rata, capped pro-rata, water-filling).
    """

    _prefix = "liquidation."
    enabled: bool = True
    """Switch the whole liquidation engine off (accounts then run negative)."""
    partial_rule: str = choice(
        "binance",
        PARTIAL_RULES,
        "binance: one IOC sized to restore margin (§2.3); chunks: Hyperliquid 20 % slices of "
        "large positions (§5.2); none: close the whole position at once",
    )
    chunk_fraction: float = param(
        0.2, "fraction of the position per order", "Hyperliquid 20 % (§5.2)", 0.0, 1.0,
        open_lo=True,
    )  # fmt: skip
    chunk_threshold_usd: float = param(
        100_000.0, "USD notional", "Hyperliquid chunks positions above 100k USDC (§5.2)", 0.0
    )
    price_band: float = param(
        0.05, "fraction from the mark", "how far a liquidation order may walk the book, assumed",
        0.0, 1.0, open_lo=True, open_hi=True,
    )  # fmt: skip
    residual_to_pool: float = param(
        1.0,
        "fraction of the margin left after a full close",
        'Binance: "a portion" goes to the fund (§2.3); Hyperliquid book liquidations: 0',
        0.0,
        1.0,
    )
    max_rounds: int = param(10, "rounds per step", "liquidate → re-mark → rescan cap, assumed", 1)
    insurance_enabled: bool = True
    """Switch the pools off: no shortfall cover, no takeover; the policy applies at once."""
    pool_mode: str = choice(
        "grouped",
        POOL_MODES,
        "shared: one pool; per_market: one per perp; grouped: majors own pools, the rest share "
        "one (Binance: BTCUSDT and ETHUSDT have their own fund, §2.3)",
    )
    major_markets: tuple[int, ...] = (0, 1)
    """Perps with their own pool in grouped mode."""
    pool_initial_usd: float | tuple[float, ...] = param(
        1_000_000.0, "USD per pool (one number for all, or one per pool)", "assumed", 0.0
    )
    pool_max_position_ratio: float = param(
        1.0,
        "notional per symbol / pool equity",
        "Binance: 100 % per symbol (§2.3)",
        0.0,
        open_lo=True,
    )
    pool_unwind_fraction: float = param(
        0.1, "fraction of each pool-held position per step", "assumed", 0.0, 1.0
    )
    drawdown_trigger: float | None = param(
        None,
        "fraction of the pool's peak (None: only when empty)",
        "ADL once a pool has fallen this far within the window: OKX 30 % / 8 h, Bybit −30 % "
        "(§4.1–4.2)",
        0.0,
        1.0,
        open_lo=True,
        open_hi=True,
    )
    drawdown_window_minutes: int = param(480, "minutes", "OKX 8 h (§4.1)", 0.0, open_lo=True)
    policy: str = choice(
        "adl_queue", POLICIES, "loss absorption once the pool cannot cover (absorption.py)"
    )
    adl_score: str = choice(
        "bitmex",
        ADL_SCORES,
        "bitmex: PnL% × effective leverage (§3.4); binance: documented LeveragePnL (§2.6); "
        "hyperliquid: (mark/entry)^side × notional / account value (§5.4)",
    )
    adl_price: str = choice(
        "bankruptcy",
        ADL_PRICES,
        "the price ADL closes winners at: the liquidated order's bankruptcy price (Binance, "
        "BitMEX, Bybit, dYdX) or the mark (Hyperliquid, OKX; §5.4): at the mark the winners "
        "give up only their positions and the deficit stays with the underwater account",
    )
    backstop_equity_ratio: float | None = param(
        None,
        "fraction of maintenance margin",
        "backstop_vault takes a whole unit over at its bankruptcy price once its equity is "
        "below this share of maintenance (Hyperliquid 2/3, §5.2); None: only what the book "
        "and the pool could not take",
        0.0,
        1.0,
        open_lo=True,
    )
    pro_rata_space: str = choice(
        "wealth",
        PRO_RATA_SPACES,
        "adl_pro_rata as a haircut of profit (wealth, Chitra §7.3) or of contracts (Drift)",
    )
    vault_initial_usd: float = param(
        0.0, "USD", "capital of the backstop vault (Hyperliquid HLP, §5.3), assumed", 0.0
    )
    vault_equity_floor_usd: float = param(
        0.0, "USD", "below it the vault stops taking positions and adl_queue applies, assumed"
    )
    vault_max_position_ratio: float = param(
        3.0, "notional per symbol / vault equity", "assumed", 0.0, open_lo=True
    )
    adl_replay: bool = False
    """Analysis only: allocate each shortfall sent to ADL by the queue and by the
    portfolio-aware queue on the same state and log both (events.AdlReplay); nothing moves."""
    hedge_band: float = param(
        0.2,
        "fraction of gross exposure",
        "an account is hedged when |net USD delta| ≤ band × gross exposure (spot + perp), assumed",
        0.0,
        1.0,
        open_lo=True,
    )
    forced_closes: str = choice(
        "book",
        FORCED_CLOSES,
        "book: into the order books, as on every venue; off_book: from off_book_from_minute "
        "on, at the mark against a sink outside the books (the counterfactual twin, DESIGN.md "
        "§2.3: the run without the price impact of forced selling, money exact)",
    )
    off_book_from_minute: int = param(
        0,
        "minute",
        "with forced closes off the book, the minute they start going to the sink (the twin "
        "sets the shock's start: before it the twin is the run itself)",
        0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # ranges and choices of every field
        for name in ("max_rounds", "off_book_from_minute"):
            if not isinstance(getattr(self, name), int):
                raise ValueError(
                    f"liquidation.{name} must be a whole number, got {getattr(self, name)!r}"
                )
        if self.backstop_equity_ratio is not None and self.policy != "backstop_vault":
            raise ValueError(
                f"liquidation.backstop_equity_ratio={self.backstop_equity_ratio!r} needs "
                f"liquidation.policy='backstop_vault' (the vault takes the unit over), got "
                f"policy={self.policy!r}"
            )

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
