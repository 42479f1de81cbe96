"""Insurance pools (and the backstop vault): which pool serves a market, what it can absorb.

Pools are system accounts in the account book, so every pool transfer is an ordinary
engine transfer and cash conservation needs no special case. Pool balance = pool equity
(cash + unrealised PnL of positions it took over).
"""

from __future__ import annotations

from collections import deque

from model.engine.absorption import uses_vault
from model.engine.risk_config import LiquidationConfig


class InsurancePools:
    """The pool accounts, their market mapping, capacity and drawdown trigger."""

    def __init__(self, ex, cfg: LiquidationConfig) -> None:
        self.ex, self.cfg = ex, cfg
        self.pool_of_market = cfg.pool_of_market(len(ex.perps))
        n_pools = max(self.pool_of_market) + 1
        self.accounts = [ex.open_account(b, is_system=True) for b in cfg.pool_balances(n_pools)]
        window = max(1, cfg.drawdown_window_minutes // ex.prices.step_minutes)
        self._history = [deque(maxlen=window) for _ in self.accounts]
        self.vault = (
            ex.open_account(cfg.vault_initial_usd, is_system=True)
            if uses_vault(cfg.policy)
            else None
        )

    def account(self, market: int) -> int:
        """Account id of the pool serving a perp."""
        return self.accounts[self.pool_of_market[market]]

    def equity_usd(self, account: int) -> float:
        """Equity of a system account: cash + unrealised PnL at the marks."""
        ex = self.ex
        return float(ex.accounts.collateral_usd[account] + ex.upnl_usd(account).sum())

    def holders(self) -> list[int]:
        """The system accounts that take positions over: every pool, and the vault if any."""
        return [*self.accounts, *([self.vault] if self.vault is not None else [])]

    def first_market(self, account: int) -> int:
        """The first market a pool serves (0 for the vault, which serves them all)."""
        if account in self.accounts:
            return self.pool_of_market.index(self.accounts.index(account))
        return 0

    def balances_usd(self) -> list[float]:
        """Equity of every pool."""
        return [self.equity_usd(a) for a in self.accounts]

    def cash_usd(self, market: int) -> float:
        """Cash the pool of a market can pay out now (0 when switched off or triggered)."""
        if not self.is_available(market):
            return 0.0
        return max(0.0, float(self.ex.accounts.collateral_usd[self.account(market)]))

    def is_available(self, market: int) -> bool:
        """Whether the pool may still cover and take over (enabled, solvent, not triggered)."""
        if not self.cfg.insurance_enabled:
            return False
        p = self.pool_of_market[market]
        equity = self.equity_usd(self.accounts[p])
        if equity <= 0:
            return False
        trigger = self.cfg.drawdown_trigger
        if trigger is None:
            return True
        return equity >= (1.0 - trigger) * max(self._history[p], default=equity)

    def takeover_lots(self, account: int, market: int, ratio: float, price_usd: float) -> int:
        """Lots of `market` a system account may still take at `price_usd` within its capacity.

        Capacity, per symbol: the notional held in `market` ≤ ratio × equity (Binance's
        insurance-fund "max net notional" is set per symbol, exchange-mechanics §2.3); what
        the account holds in other markets does not use it up.
        """
        ex = self.ex
        equity = self.equity_usd(account)
        if equity <= 0:
            return 0
        lots = int(ex.accounts.qty_lots[account, market])
        held = abs(lots) * ex.perps[market].lot_size * float(ex.prices.mark_usd[market])
        room = ratio * equity - held
        return max(0, int(room // (ex.perps[market].lot_size * price_usd)))

    def record_step(self) -> None:
        """Remember each pool's equity for the drawdown trigger (once per step)."""
        for hist, acct in zip(self._history, self.accounts, strict=True):
            hist.append(self.equity_usd(acct))
