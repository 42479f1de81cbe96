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

from model.engine import adl, adl_rank, adl_scores
from model.engine.events import Adl, BadDebt, Haircut, Insurance
from model.engine.margin import bankruptcy_price_at_mark

if TYPE_CHECKING:  # the configuration reads this module's registry
    from model.engine.risk_config import LiquidationConfig

SYSTEM_SCORE = -1e300
"""Score of pools and the vault in the ADL queue: always last (finite for adl.py's checks)."""


class Policy:
    """Shared machinery: candidates, ADL closes, haircuts, hedge-break detection."""

    name = "base"
    uses_vault = False  # a backstop vault account is opened for it

    def __init__(self, ex, pools, cfg: LiquidationConfig) -> None:
        self.ex, self.pools, self.cfg = ex, pools, cfg
        self._ranking = adl_rank.AdlRanking(self)

    # -- interface -----------------------------------------------------------------------
    def absorb(self, acct: int, k: int, side: int, lots: int, bp: float, rnd: int) -> int:
        """Take `lots` of `acct`'s position (side `side`) in market k off its hands at `bp`.

        Returns the lots a backstop (the vault) took, which the liquidator logs apart.
        """
        raise NotImplementedError

    def cover_deficit(self, acct: int, k: int, usd: float, rnd: int) -> None:
        """Cover a cash deficit left after a close: pool first, then bad debt."""
        paid = min(usd, self.pools.cash_usd(k))
        if paid > 0:
            self.ex.ledger.move_cash(self.pools.account(k), acct, paid)
            self._pool_event(k, -paid, "shortfall", rnd)
        if usd - paid > 1e-6:
            self.ex.events.add(
                BadDebt(t=self.ex.t, round=rnd, account=acct, market=k, amount_usd=usd - paid)
            )

    def end_round(self, rnd: int) -> None:
        """Hook run after every liquidation round (`rnd`)."""

    def recover(self, acct: int, legs: list[tuple[int, int, int, float]], rnd: int) -> None:
        """A bankrupt pool or vault: each (market, side, lots, bankruptcy price) position goes
        to `absorb`, as a liquidated user's would; a leg whose bankruptcy price is not above
        zero cannot trade and stays (the caller records the gap as bad debt)."""
        for k, side, lots, bp in legs:
            if bp > 0:
                self.absorb(acct, k, side, lots, bp, rnd)

    # -- helpers -------------------------------------------------------------------------
    def _candidates(self, acct: int, k: int, side: int) -> np.ndarray:
        """Accounts holding the opposite side of market k (users first, system last)."""
        lots = self.ex.accounts.qty_lots[:, k]
        ids = np.flatnonzero(lots * side < 0)
        ids = ids[ids != acct]
        system = self.ex.is_system[ids]
        return np.concatenate([ids[~system], ids[system]])

    def scores(self, ids: np.ndarray, k: int) -> np.ndarray:
        """ADL ranking score of each candidate (system accounts last)."""
        ex, acc = self.ex, self.ex.accounts
        r = ex.risk_arrays(ids)  # the candidates' rows only
        mark = float(ex.prices.mark_usd[k])
        qty = acc.qty_lots[ids, k] * ex.perps[k].lot_size
        side = np.sign(qty)
        iso = acc.is_isolated[ids, k]
        equity = np.where(iso, r["iso_equity_usd"][:, k], r["cross_equity_usd"])
        if self.cfg.adl_score == "binance":
            wallet = np.where(iso, acc.isolated_margin_usd[ids, k], acc.collateral_usd[ids])
            mm = np.where(iso, r["mm_usd"][:, k], r["cross_mm_usd"])
            score = adl_scores.binance_leverage_pnl_score(r["upnl_usd"][:, k], wallet, mm)
        elif self.cfg.adl_score == "hyperliquid":
            # ranked where the account value is positive (a bankrupt one is ranked last below)
            score = np.zeros(len(ids))
            rank = (equity > 0) & ~ex.is_system[ids]
            score[rank] = adl_scores.hyperliquid_score(
                side[rank], acc.entry_price_usd[ids[rank], k], mark,
                r["notional_usd"][rank, k], equity[rank],
            )  # fmt: skip
        else:
            # ranked only where the position has a bankruptcy price away from the mark: a
            # bankrupt (or exactly zero-equity) account and the engine's own rows are ranked
            # below, as the lines after this say
            bankrupt = bankruptcy_price_at_mark(side, np.abs(qty), equity, mark)
            rank = (equity > 0) & ~ex.is_system[ids] & (bankrupt != mark)
            score = np.zeros(len(ids))
            score[rank] = adl_scores.bitmex_score(
                side[rank], acc.entry_price_usd[ids[rank], k], mark, np.maximum(bankrupt[rank], 0.0)
            )
        # an account that is itself bankrupt is closed against only after every solvent one
        score = np.where(equity <= 0, SYSTEM_SCORE / 2, score)
        return np.where(ex.is_system[ids], SYSTEM_SCORE, score)

    def _close_against(
        self,
        acct: int,
        cands: np.ndarray,
        alloc: np.ndarray,
        k: int,
        side: int,
        price: float,
        scores: np.ndarray,
        rnd: int,
    ) -> None:
        """Close `alloc` lots of each candidate against `acct` at `price` (an ADL fill).

        Logged per fill (events.Adl): the value taken from the winner q·(side·(price −
        mark))_+, equal to the deficit it covers, and the margin a close on the solvent side
        of the mark hands the winner, q·(side·(mark − price))_+.
        """
        ex = self.ex
        mark = float(ex.prices.mark_usd[k])
        lot = ex.perps[k].lot_size
        for cand, lots, score in zip(cands, alloc, scores, strict=True):
            if lots <= 0:
                continue
            cand = int(cand)
            was_hedged = self.is_hedged(cand)
            ex.cancel_all(cand)
            ex.ledger.transfer_position(acct, cand, k, -side * int(lots), price)
            taken = int(lots) * lot * max(0.0, (price - mark) * side)
            handed = int(lots) * lot * max(0.0, (mark - price) * side)
            broke = was_hedged and not self.is_hedged(cand)
            ex.events.add(
                Adl(
                    t=ex.t,
                    round=rnd,
                    policy=self.name,
                    account=cand,
                    market=k,
                    side=-side,
                    qty=int(lots) * lot,
                    price_usd=price,
                    mark_usd=mark,
                    score=float(score),
                    value_taken_usd=taken,
                    needed_usd=taken,
                    is_hedge_break=broke,
                    margin_to_winner_usd=handed,
                )
            )

    def is_hedged(self, acct: int) -> bool:
        """|net USD delta over spot and perps| ≤ hedge_band × gross exposure."""
        delta, gross = self.ex.delta_usd(acct)
        return gross > 0 and abs(delta) <= self.cfg.hedge_band * gross

    def _haircut(
        self, payers: np.ndarray, upnl: np.ndarray, budget: float, acct: int, k: int, rnd: int
    ) -> float:
        """Pro-rata haircut of the payers' profit into `acct`; return the amount.

        upnl: (payers, markets) unrealised PnL of the legs the haircut may take from. Payer
        i's profit w_i = (Σ_k upnl_ik)_+ loses h·w_i (adl.pro_rata_haircut), taken from its
        winning legs in proportion to their profit (each leg loses at most its own profit,
        since h·w_i ≤ Σ_k (upnl_ik)_+), through the ledger's `haircut`: from the position,
        never from the wallet (Chitra & al. 2026: haircuts apply to positive PnL).
        """
        profits = np.maximum(upnl.sum(axis=1), 0.0)
        if budget <= 0 or not profits.any():
            return 0.0
        amounts = adl.pro_rata_haircut(profits, budget) * profits
        needed = budget * profits / profits.sum()
        gains = np.maximum(upnl, 0.0)
        legs = np.divide(
            gains * amounts[:, None],
            gains.sum(axis=1, keepdims=True),
            out=np.zeros_like(gains),
            where=gains > 0,
        )
        self.ex.ledger.haircut(payers, legs, acct)
        paid = amounts > 0
        for p, a, n in zip(payers[paid], amounts[paid], needed[paid], strict=True):
            self.ex.events.add(
                Haircut(
                    t=self.ex.t,
                    round=rnd,
                    policy=self.name,
                    account=int(p),
                    market=k,
                    haircut_usd=float(a),
                    needed_usd=float(n),
                )
            )
        return float(amounts.sum())

    def _pool_event(self, k: int, delta: float, cause: str, rnd: int) -> None:
        pool = self.pools.account(k)
        self.ex.events.add(
            Insurance(
                t=self.ex.t,
                round=rnd,
                pool=self.pools.pool_of_market[k],
                market=k,
                delta_usd=delta,
                balance_usd=self.pools.equity_usd(pool),
                cause=cause,
            )
        )

    def adl_price(self, k: int, bp: float) -> float:
        """The price an ADL close is made at: the bankruptcy price, or the mark (`adl_price`)."""
        return bp if self.cfg.adl_price == "bankruptcy" else float(self.ex.prices.mark_usd[k])

    def _queue(self, acct: int, k: int, side: int, lots: int, bp: float, rnd: int) -> int:
        if self.ex.accounts.n >= adl_rank.MIN_ACCOUNTS:  # large book: the incremental queue
            cands, alloc, scores = self._ranking.take(acct, k, side, lots, rnd)
        else:
            cands, alloc, scores = self.queue_allocation(acct, k, side, lots)
        if not len(cands):
            return lots
        self._close_against(acct, cands, alloc, k, side, self.adl_price(k, bp), scores, rnd)
        return lots - int(alloc.sum())

    def queue_allocation(self, acct: int, k: int, side: int, lots: int):
        """(candidates, lots closed, scores): every candidate ranked (adl.queue_allocation)."""
        cands = self._candidates(acct, k, side)
        if not len(cands):
            return cands, np.zeros(0, dtype=np.int64), np.zeros(0)
        scores = self.scores(cands, k)
        avail = np.abs(self.ex.accounts.qty_lots[cands, k]).astype(np.int64)
        return cands, adl.queue_allocation(scores, avail, lots), scores

    def _queue_then_bad_debt(self, acct, k, side, lots, bp, rnd) -> None:
        """Close `lots` through the ADL queue; what nobody can take is recorded as bad debt."""
        left = self._queue(acct, k, side, lots, bp, rnd)
        if left:
            self._record_gap(acct, k, left, bp, rnd)

    def _record_gap(self, acct: int, k: int, lots: int, bp: float, rnd: int) -> None:
        """Nobody left to close `lots` against: the deficit stays with the account."""
        gap = lots * self.ex.perps[k].lot_size * abs(bp - float(self.ex.prices.mark_usd[k]))
        self.ex.events.add(BadDebt(t=self.ex.t, round=rnd, account=acct, market=k, amount_usd=gap))


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
            held = np.abs(ex.accounts.qty_lots[cands, k]).astype(np.int64)
            net, _ = ex.deltas_usd(cands)
            mark = float(ex.prices.mark_usd[k])
            naked = adl.naked_lots(ex.accounts.qty_lots[cands, k], ex.perps[k].lot_size, mark, net)
            scores = self.scores(cands, k)
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
