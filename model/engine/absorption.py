"""Loss-absorption policies: what happens to a bankrupt position the book and pool could not take.

One interface, chosen per run (`LiquidationConfig.policy`); ranking and allocation rules are
the pure functions of `adl.py`; every transfer is an `Exchange` primitive.

- adl_queue: opposite-side positions ranked by score, closed in contract space at the
  bankruptcy price of the liquidated order, highest first, the last partially (Binance §2.6,
  BitMEX §3.4; TV-R1).
- adl_pro_rata: wealth space (default): the position is closed against the opposite side
  pro rata by contracts at the mark, and the deficit D = |BP − mark|·Q is haircut from the
  opposite side's unrealised profit pro rata, capped at 100 % (Chitra §7.3); contract space:
  closed pro rata by contracts at the bankruptcy price (Drift §6.3).
- adl_min_max_leverage: contract space at BP, most-levered winners first until leverages
  equalise (Campbell, Hey, Moallemi & Nutz 2026 water-filling).
- socialized_loss: the pool takes the position whatever its capacity; when its equity is
  negative at the end of a round, the gap is clawed back pro rata from every account in
  profit (BitMEX before Oct 2016, §3.1).
- adl_portfolio: the queue, portfolio-aware: the lots a winner's net exposure leaves naked go
  first, the lots that hedge its spot or other perps last (no venue runs it; the seeds ask).
- backstop_vault: a vault with its own capital takes the position at BP (Hyperliquid's
  liquidator vault, §5.3) within its capacity; below its equity floor, adl_queue applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.engine import adl
from model.engine.policy_base import Policy

if TYPE_CHECKING:  # the configuration reads this module's registry
    from model.engine.risk_config import LiquidationConfig


class AdlQueue(Policy):
    name = "adl_queue"

    def absorb(self, acct, k, side, lots, bp, rnd):
        self._queue_then_bad_debt(acct, k, side, lots, bp, rnd)


class AdlProRata(Policy):
    name = "adl_pro_rata"

    def absorb(self, acct, k, side, lots, bp, rnd):
        cands = self._candidates(acct, k, side)
        avail = np.abs(self.ex.accounts.qty_lots[cands, k]).astype(np.int64)
        alloc = adl.contract_pro_rata(avail, lots)
        scores = np.zeros(len(cands))
        if self.cfg.pro_rata_space == "contract":
            self._close_against(acct, cands, alloc, k, side, self.adl_price(k, bp), scores, rnd)
            return
        mark = float(self.ex.prices.mark_usd[k])
        upnl = np.zeros((len(cands), len(self.ex.perps)))
        upnl[:, k] = self.ex.upnl_usd(cands)[:, k]
        # closing at the mark instead of BP leaves exactly this deficit on the account; it is
        # taken from the winners' profit in k while their positions are still open
        deficit = lots * self.ex.perps[k].lot_size * max(0.0, side * (bp - mark))
        self._haircut(cands, upnl, deficit, acct, k, rnd)
        self._close_against(acct, cands, alloc, k, side, mark, scores, rnd)


class AdlMinMaxLeverage(Policy):
    name = "adl_min_max_leverage"

    def absorb(self, acct, k, side, lots, bp, rnd):
        cands = self._candidates(acct, k, side)
        r = self.ex.risk_arrays(cands)  # the candidates' rows only
        equity = np.where(
            self.ex.accounts.is_isolated[cands, k],
            r["iso_equity_usd"][:, k],
            r["cross_equity_usd"],
        )
        ok = (equity > 0) & ~self.ex.is_system[cands]
        cands_ok = cands[ok]
        if len(cands_ok):
            avail = np.abs(self.ex.accounts.qty_lots[cands_ok, k]).astype(np.int64)
            notional_ok = r["notional_usd"][ok, k]
            alloc = adl.min_max_leverage_allocation(
                notional_ok,
                equity[ok],
                avail,
                float(self.ex.prices.mark_usd[k]),
                lots,
            )
            lev = notional_ok / equity[ok]
            self._close_against(acct, cands_ok, alloc, k, side, self.adl_price(k, bp), lev, rnd)
            lots -= int(alloc.sum())
        if lots:
            self._queue_then_bad_debt(acct, k, side, lots, bp, rnd)


class AdlPortfolio(Policy):
    """The ADL queue made portfolio-aware (no venue runs one; the seeds ask for it): each
    winner's position is split into the lots its owner's net exposure over spot and perps
    leaves naked and the lots that hedge something (adl.naked_lots); naked lots are closed
    first by score, hedges last (adl.portfolio_allocation), at the ADL price."""

    name = "adl_portfolio"

    def absorb(self, acct, k, side, lots, bp, rnd):
        ex = self.ex
        cands = self._candidates(acct, k, side)
        if len(cands):
            held, naked, scores = self._ranked_lots(cands, k, ex.deltas_usd(cands)[0])
            alloc = adl.portfolio_allocation(scores, held, naked, lots)
            self._close_against(acct, cands, alloc, k, side, self.adl_price(k, bp), scores, rnd)
            lots -= int(alloc.sum())
        if lots:
            self._record_gap(acct, k, lots, bp, rnd)


class SocializedLoss(Policy):
    name = "socialized_loss"

    def absorb(self, acct, k, side, lots, bp, rnd):
        pool = self.pools.account(k)
        self.ex.ledger.transfer_position(acct, pool, k, -side * lots, bp)
        self._pool_event(k, 0.0, "takeover_uncapped", rnd)

    def cover_deficit(self, acct, k, usd, rnd):
        self.ex.ledger.move_cash(self.pools.account(k), acct, usd)
        self._pool_event(k, -usd, "shortfall", rnd)

    def end_round(self, rnd):
        """Claw back every pool's negative equity from accounts in profit, pro rata."""
        for pool in self.pools.accounts:
            self._claw_back(pool, rnd)

    def recover(self, acct, legs, rnd):
        """The pool keeps its positions: its gap is clawed back from the winners."""
        self._claw_back(acct, rnd)

    def _claw_back(self, pool: int, rnd: int) -> None:
        gap = -self.pools.equity_usd(pool)
        if gap <= 0:
            return
        upnl = self.ex.upnl_usd()
        payers = np.flatnonzero((upnl.sum(axis=1) > 0) & ~self.ex.is_system[: len(upnl)])
        self._haircut(payers, upnl[payers], gap, pool, self.pools.first_market(pool), rnd)


class BackstopVault(Policy):
    name = "backstop_vault"
    uses_vault = True

    def absorb(self, acct, k, side, lots, bp, rnd):
        vault = self.pools.vault
        equity = self.pools.equity_usd(vault)
        take = 0
        if acct != vault and equity > self.cfg.vault_equity_floor_usd and bp > 0:
            take = min(
                lots, self.pools.takeover_lots(vault, k, self.cfg.vault_max_position_ratio, bp)
            )
        if take:
            self.ex.ledger.transfer_position(acct, vault, k, -side * take, bp)
        if lots - take:
            self._queue_then_bad_debt(acct, k, side, lots - take, bp, rnd)
        return take


REGISTRY: dict[str, type[Policy]] = {
    p.name: p
    for p in (AdlQueue, AdlProRata, AdlMinMaxLeverage, AdlPortfolio, SocializedLoss, BackstopVault)
}
"""The loss-absorption policies by name: the one list (config checks and the CLI read it)."""
POLICIES = tuple(REGISTRY)


def uses_vault(name: str) -> bool:
    """Whether the named policy needs a backstop vault account."""
    return REGISTRY[name].uses_vault


def make_policy(name: str, ex, pools, cfg: LiquidationConfig) -> Policy:
    """Build the policy named in the configuration."""
    return REGISTRY[name](ex, pools, cfg)
