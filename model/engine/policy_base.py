"""The machinery every loss-absorption policy shares (absorption.py holds the policies):
candidates and their scores, ADL closes with their measures, haircuts from profit, pool
events, the queue, and hedge-break detection. Every transfer goes through the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.engine import adl, adl_rank, adl_scores
from model.engine.events import Adl, AdlReplay, BadDebt, Haircut, Insurance
from model.engine.margin import bankruptcy_price_at_mark

if TYPE_CHECKING:  # the configuration reads the policies' registry
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
        # (account, market) pairs each ranking's replay has counted as broken (`replay`)
        self._replay_broken: tuple[set, set] = (set(), set())

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
            was_hedged = self.hedges(cand, k)
            ex.cancel_all(cand)
            ex.ledger.transfer_position(acct, cand, k, -side * int(lots), price)
            taken = int(lots) * lot * max(0.0, (price - mark) * side)
            handed = int(lots) * lot * max(0.0, (mark - price) * side)
            after = self.hedges(cand, k)
            broke = any(b and not a for b, a in zip(was_hedged, after, strict=True))
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

    def replay(self, acct: int, k: int, side: int, lots: int, bp: float, rnd: int) -> None:
        """Log how the queue and the portfolio-aware queue would allocate these `lots` on the
        present state (events.AdlReplay): the same shortfall under both rankings, the run's
        own policy untouched (Chitra 2025 compares policies on the same shocks this way).

        A break is counted once per (account, market) and ranking: a hedge the run's path
        keeps would otherwise be counted again at every later shortfall that would break it.
        """
        ex = self.ex
        cands = self._candidates(acct, k, side)
        if not len(cands):
            return
        lot, mark = ex.perps[k].lot_size, float(ex.prices.mark_usd[k])
        whole, leg = ex.deltas_usd(cands), ex.leg_deltas_usd(cands, k)
        held, naked, scores = self._ranked_lots(cands, k, whole[0])
        by_queue = adl.queue_allocation(scores, held, lots)
        by_portfolio = adl.portfolio_allocation(scores, held, naked, lots)
        hedged, breaks = [], []
        for alloc, seen in zip((by_queue, by_portfolio), self._replay_broken, strict=True):
            hedged.append(int(np.maximum(alloc - naked, 0).sum()))
            hit = adl.hedges_broken(whole, leg, alloc * lot * mark, side, self.cfg.hedge_band)
            new = {(int(a), k) for a in cands[hit]} - seen
            seen |= new
            breaks.append(len(new))
        shift = hedged[0] - hedged[1]
        ex.events.add(
            AdlReplay(
                t=ex.t, round=rnd, market=k, lots=int(lots),
                queue_hedged_lots=hedged[0], portfolio_hedged_lots=hedged[1],
                queue_breaks=breaks[0], portfolio_breaks=breaks[1],
                shifted_usd=shift * lot * mark,
                shifted_taken_usd=shift * lot * max(0.0, side * (self.adl_price(k, bp) - mark)),
            )
        )  # fmt: skip

    def _ranked_lots(self, cands: np.ndarray, k: int, net_usd: np.ndarray):
        """(lots held, naked lots, ADL score) of each candidate in market k, with net_usd each
        one's net USD delta over spot and perps (`adl.naked_lots`, `scores`)."""
        pos = self.ex.accounts.qty_lots[cands, k]
        mark = float(self.ex.prices.mark_usd[k])
        naked = adl.naked_lots(pos, self.ex.perps[k].lot_size, mark, net_usd)
        return np.abs(pos).astype(np.int64), naked, self.scores(cands, k)

    def is_hedged(self, acct: int) -> bool:
        """|net USD delta over spot and perps| ≤ hedge_band × gross exposure."""
        return self._within_band(*self.ex.delta_usd(acct))

    def hedges(self, acct: int, k: int) -> tuple[bool, bool]:
        """(is the account hedged as a whole, is its exposure in perp k's asset hedged).

        An ADL close in market k breaks a hedge when either turns from True to False: a
        fund's long alts against short majors is hedged as a whole, a basis book asset by
        asset (its other legs can keep the whole inside the band while one leg is naked)."""
        return self.is_hedged(acct), self._within_band(*self.ex.leg_delta_usd(acct, k))

    def _within_band(self, delta_usd: float, gross_usd: float) -> bool:
        return gross_usd > 0 and abs(delta_usd) <= self.cfg.hedge_band * gross_usd

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
