"""The liquidation engine: find accounts below maintenance, close them, absorb the losses.

Process (exchange-mechanics.md §1, §2.3, §3.2, §5.2; each step in the README assumptions):

1. Trigger at the MARK price: a cross account whose equity is below its total maintenance
   margin; an isolated position whose isolated margin + unrealised PnL is below its own.
2. Cancel the account's open orders (Binance, BitMEX, Bybit).
3. Partial first where the rule allows: `binance` sends one IOC sized to restore margin
   (closing a fraction f with f ≥ (MM − E) / (MM − N·fee), Binance "Smart Liquidation");
   `chunks` closes 20 % of a position above 100k per round (Hyperliquid). If the account is
   still below maintenance afterwards, it is closed in full.
4. A full close is an IOC into the real book no worse than the bankruptcy price BP (stage 1),
   then, while the insurance pool can pay the gap, down to `price_band` from the mark
   (stage 2: BitMEX "spend the insurance fund on aggressing the position"; TV-X1). Each
   position's BP shares the unit's equity E in proportion to notional:
   BP_k = mark_k − side_k · E · share_k / Q_k (the usual BP for a single position).
5. What the book could not take is taken over by the pool at BP within its capacity
   (notional held in that symbol ≤ ratio × equity), then by the loss-absorption policy
   (`absorption.py`). A pool below zero equity is bankrupt (`settle_system_deficits`).
6. The liquidation fee (on the amount closed in the book) goes to the pool, capped by what
   the account has left; then a share of the residual margin goes to the pool. A cross
   account whose USD wallet cannot pay its deficit and fee first has collateral coins sold
   into their spot books (collateral.py); only what that cannot raise goes to the policy.
7. Re-mark (the fills moved the last price) and rescan; repeat up to `max_rounds`.
"""

from __future__ import annotations

import math

import numpy as np

from model.engine.absorption import make_policy
from model.engine.events import BadDebt, Insurance, Liquidation
from model.engine.insurance import InsurancePools
from model.engine.liquidation_units import equity_shares, partial_fractions, unit_state
from model.engine.margin import bankruptcy_price_at_mark
from model.engine.risk_config import LiquidationConfig
from model.engine.risk_scan import RiskScanner

DUST_USD = 1e-6
"""Equity closer to zero than this is rounding, not bad debt."""


class Liquidator:
    """Runs the liquidation loop of one step on an `Exchange` (which does every transfer)."""

    def __init__(self, ex, cfg: LiquidationConfig) -> None:
        self.ex, self.cfg = ex, cfg
        self.pools = InsurancePools(ex, cfg)
        self.policy = make_policy(cfg.policy, ex, self.pools, cfg)
        self.scanner = RiskScanner(ex)
        self.round = 0

    # ----------------------------------------------------------------------------- loop
    def run(self) -> int:
        """Liquidate until nobody is below maintenance or the round cap; return units closed."""
        if not self.cfg.enabled:
            return 0
        done = 0
        for r in range(1, self.cfg.max_rounds + 1):
            self.round = r
            self.ex.remark()
            units = self.scan()
            if not units:
                break
            for i in self.ex.rng.permutation(len(units)):
                self._liquidate(*units[i])
            done += len(units)
            self.policy.end_round(self.round)
        self.settle_system_deficits()
        return done

    def settle_system_deficits(self) -> None:
        """No pool insolvent unnoticed (DESIGN.md §5): a pool or the vault whose equity is
        below zero (losses on positions it took over, or on selling them back) is bankrupt.
        Its positions go to the loss-absorption policy at their bankruptcy prices, as a user's
        would (Binance: ADL when the insurance fund cannot cover); a gap still left is
        recorded as bad debt, once (what was recorded before is not counted again)."""
        events = self.ex.events
        for acct in self.pools.holders():
            gap = -self.pools.equity_usd(acct) - events.bad_debt_usd(acct)
            if gap <= DUST_USD:
                continue
            self.policy.recover(acct, self._bankrupt_legs(acct), self.round)
            gap = -self.pools.equity_usd(acct) - events.bad_debt_usd(acct)
            if gap > DUST_USD:
                market = self.pools.first_market(acct)
                events.add(
                    BadDebt(t=self.ex.t, round=self.round, account=acct, market=market,
                            amount_usd=gap)
                )  # fmt: skip

    def _bankrupt_legs(self, acct: int) -> list[tuple[int, int, int, float]]:
        """(market, side, lots, bankruptcy price) of each position of an account below zero
        equity; the deficit is shared over the losing legs (`liquidation_units.equity_shares`)."""
        equity, _, notional = unit_state(self.ex, acct, None)
        shares = equity_shares(self.ex, acct, equity, notional) if notional else {}
        legs = []
        for k, share in shares.items():
            lots = int(self.ex.accounts.qty_lots[acct, k])
            side, qty = (1 if lots > 0 else -1), abs(lots) * self.ex.perps[k].lot_size
            mark = float(self.ex.prices.mark_usd[k])
            bp = bankruptcy_price_at_mark(side, qty, equity * share, mark)
            legs.append((k, side, abs(lots), float(bp)))
        return legs

    def scan(self) -> list[tuple[int, int | None]]:
        """Units below maintenance: (account, None) for cross, (account, market) for isolated.

        The test is `Exchange.risk_arrays`'s (equity < maintenance at the mark), run by
        `RiskScanner`: vectorised over every account, incrementally on large books.
        """
        return self.scanner.scan()

    def scan_reference(self) -> list[tuple[int, int | None]]:
        """`scan` written directly on `Exchange.risk_arrays` (the reference the tests use)."""
        r = self.ex.risk_arrays()
        user = ~self.ex.is_system[: self.ex.accounts.n]
        cross = user & r["is_cross"].any(axis=1) & (r["cross_equity_usd"] < r["cross_mm_usd"])
        iso = (self.ex.accounts.qty_lots != 0) & self.ex.accounts.is_isolated
        iso &= (r["iso_equity_usd"] < r["mm_usd"]) & user[:, None]
        units: list[tuple[int, int | None]] = [(int(a), None) for a in np.flatnonzero(cross)]
        units += [(int(a), int(k)) for a, k in zip(*np.nonzero(iso), strict=True)]
        return units

    # --------------------------------------------------------------------- unit helpers
    # ------------------------------------------------------------------------ liquidate
    def _liquidate(self, acct: int, iso_market: int | None) -> None:
        equity, mm, notional = unit_state(self.ex, acct, iso_market)
        if not any(notional.values()):  # closed away by ADL while bankrupt
            self._cover_flat_deficit(acct, iso_market, equity)
            return
        if equity >= mm:
            return  # an earlier unit of this round already fixed it
        self.ex.cancel_all(acct)
        if self._backstop(acct, equity, mm, notional):
            return
        cash_before = float(self.ex.accounts.collateral_usd[acct])
        if self._try_partial(acct, iso_market, equity, mm, notional):
            return
        equity, _, notional = unit_state(self.ex, acct, iso_market)
        if not any(notional.values()):  # the partial close took every lot
            self._cover_flat_deficit(acct, iso_market, equity)
            return
        shares = equity_shares(self.ex, acct, equity, notional)
        book_usd = 0.0
        for k in sorted(notional, key=notional.get, reverse=True):
            book_usd += self._close_position(acct, k, equity * shares[k])
        main = max(notional, key=notional.get)
        self._settle_residual(acct, main, iso_market is not None, cash_before, book_usd)

    def _backstop(self, acct: int, equity: float, mm: float, notional: dict) -> bool:
        """Hyperliquid's backstop (§5.2): a unit whose equity is below `backstop_equity_ratio`
        of its maintenance is taken over whole by the vault at its positions' bankruptcy
        prices (the trader ends at zero, the vault keeps the margin or takes the deficit),
        if the vault is above its floor and each position fits its capacity; True if taken.
        Otherwise the unit is closed as usual (the book, then the policy)."""
        ratio, vault = self.cfg.backstop_equity_ratio, self.pools.vault
        if ratio is None or vault is None or equity >= ratio * mm:
            return False
        if self.pools.equity_usd(vault) <= self.cfg.vault_equity_floor_usd:
            return False
        shares = equity_shares(self.ex, acct, equity, notional)
        legs = []
        for k in notional:
            lots = int(self.ex.accounts.qty_lots[acct, k])
            side, qty = (1 if lots > 0 else -1), abs(lots) * self.ex.perps[k].lot_size
            mark = float(self.ex.prices.mark_usd[k])
            bp = float(bankruptcy_price_at_mark(side, qty, equity * shares[k], mark))
            room = self.pools.takeover_lots(vault, k, self.cfg.vault_max_position_ratio, bp)
            if bp <= 0 or room < abs(lots):
                return False
            legs.append((k, side, abs(lots), bp))
        for k, side, lots, bp in legs:
            self.ex.ledger.transfer_position(acct, vault, k, -side * lots, bp)
            notional_usd = lots * self.ex.perps[k].lot_size * bp
            self._log(acct, k, side, lots, notional_usd, bp, 0.0, 0.0, 0.0, "vault")
        return True

    def _cover_flat_deficit(self, acct: int, iso_market: int | None, equity: float) -> None:
        """A unit with no position left (an isolated unit lists its market even when flat):
        a cross deficit beyond rounding goes to the policy; rounding dust is left alone.
        A negative USD wallet is first paid from collateral coins sold into the book."""
        if iso_market is None and self.ex.collateral.enabled:
            self._sell_collateral(acct, -float(self.ex.accounts.collateral_usd[acct]))
            equity = float(self.ex.accounts.collateral_usd[acct])
        if iso_market is None and equity < -DUST_USD:
            self.policy.cover_deficit(acct, 0, -equity, self.round)

    def _try_partial(self, acct, iso_market, equity, mm, notional) -> bool:
        """Partial liquidation; True if the unit is healthy afterwards.

        Only a solvent unit (equity > 0) is partially liquidated, and never below its
        bankruptcy price, so the partial close cannot reach into the cross wallet.
        binance: every position loses the fraction that restores maintenance. chunks
        (Hyperliquid §5.2, per position): a position above `chunk_threshold_usd` loses
        `chunk_fraction`, a smaller one closes whole; a unit still below maintenance is then
        closed in full, as Hyperliquid's orders during the 30 s cooldown after a partial
        liquidation are for the whole position (one model step is longer than the cooldown).
        """
        if equity <= 0:
            return False
        fractions = partial_fractions(self.cfg, self.ex, equity, mm, notional)
        if not fractions:
            return False
        gross = sum(notional.values())
        for k, f in fractions.items():
            lots = int(self.ex.accounts.qty_lots[acct, k])
            side, qty = (1 if lots > 0 else -1), abs(lots) * self.ex.perps[k].lot_size
            mark = float(self.ex.prices.mark_usd[k])
            bp = bankruptcy_price_at_mark(side, qty, equity * notional[k] / gross, mark)
            band = mark * (1 - side * self.cfg.price_band)
            limit = max(bp, band) if side > 0 else min(bp, band)
            chunk = min(abs(lots), max(1, math.ceil(f * abs(lots))))
            self._book_close(acct, k, chunk, kind="partial", limit_usd=limit)
        equity, mm, notional = unit_state(self.ex, acct, iso_market)
        return equity >= mm  # a unit left flat is finished by `_liquidate`

    def _book_close(
        self, acct: int, k: int, lots: int, kind: str, limit_usd: float | None = None
    ) -> tuple[int, float]:
        """IOC-close `lots` of a position in the book; charge the liquidation fee; log."""
        ex = self.ex
        side = 1 if ex.accounts.qty_lots[acct, k] > 0 else -1
        mark = float(ex.prices.mark_usd[k])
        band = mark * (1 - side * self.cfg.price_band)
        limit = band if limit_usd is None else limit_usd
        filled, notional = ex.forced_ioc(acct, k, -side, lots, limit, is_liquidation=True)
        if filled and kind == "partial":
            fee = min(
                notional * ex.perps[k].liquidation_fee,
                max(0.0, float(ex.accounts.collateral_usd[acct])),
            )
            ex.ledger.move_cash(acct, self.pools.account(k), fee)
            self._log(acct, k, side, filled, notional, math.nan, fee, 0.0, fee, kind)
        return filled, notional

    def _close_position(self, acct: int, k: int, equity_share: float) -> float:
        """Fully close one position (book, pool-paid book, pool takeover, policy)."""
        ex, spec = self.ex, self.ex.perps[k]
        lots = int(ex.accounts.qty_lots[acct, k])
        side, qty = (1 if lots > 0 else -1), abs(lots) * spec.lot_size
        mark = float(ex.prices.mark_usd[k])
        bp = bankruptcy_price_at_mark(side, qty, equity_share, mark)
        band = mark * (1 - side * self.cfg.price_band)
        # stage 1: no worse than the bankruptcy price (and within the band)
        lim1 = max(bp, band) if side > 0 else min(bp, band)
        f1, n1 = self._book_close(acct, k, abs(lots), "book", lim1) if lim1 > 0 else (0, 0.0)
        book_usd = n1
        self._log(acct, k, side, f1, n1, bp, 0.0, 0.0, 0.0, "book") if f1 else None
        rest = abs(lots) - f1
        if rest and self.pools.is_available(k):
            rest, book_usd = self._pool_paid_close(acct, k, side, rest, bp, band, book_usd)
        if rest:
            rest = self._pool_takeover(acct, k, side, rest, bp)
        if rest:
            if self.cfg.adl_replay:
                self.policy.replay(acct, k, side, rest, bp, self.round)
            backstop = self.policy.absorb(acct, k, side, rest, bp, self.round) or 0
            for lots, kind in ((backstop, "vault"), (rest - backstop, self.policy.name)):
                if lots:
                    notional = lots * spec.lot_size * bp
                    self._log(acct, k, side, lots, notional, bp, 0.0, 0.0, 0.0, kind)
        return book_usd

    def _pool_paid_close(self, acct, k, side, lots, bp, band, book_usd) -> tuple[int, float]:
        """Stage 2: walk past the bankruptcy price while the pool can pay each lot's gap."""
        ex, spec = self.ex, self.ex.perps[k]
        cash = self.pools.cash_usd(k)
        n_ok, cost = 0, 0.0
        for price, level_lots in ex.forced_levels(k, side):  # the bids a long sells into
            if side * (price - band) < 0:
                break
            gap = max(0.0, side * (bp - price)) * spec.lot_size
            take = level_lots if gap == 0 else min(level_lots, int((cash - cost) // gap))
            take = min(take, lots - n_ok)
            n_ok, cost = n_ok + take, cost + take * gap
            if n_ok == lots or take < level_lots:
                break
        if n_ok == 0:
            return lots, book_usd
        filled, notional = self._book_close(acct, k, n_ok, "book", band)
        if not filled:
            return lots, book_usd
        shortfall = max(0.0, side * (bp * filled * spec.lot_size - notional))
        ex.ledger.move_cash(self.pools.account(k), acct, shortfall)
        self._log(acct, k, side, filled, notional, bp, 0.0, shortfall, -shortfall, "book")
        return lots - filled, book_usd + notional

    def _pool_takeover(self, acct: int, k: int, side: int, lots: int, bp: float) -> int:
        """The pool takes what the book could not, at the bankruptcy price, within capacity."""
        if not self.pools.is_available(k) or bp <= 0:
            return lots
        pool = self.pools.account(k)
        take = min(lots, self.pools.takeover_lots(pool, k, self.cfg.pool_max_position_ratio, bp))
        if take:
            self.ex.ledger.transfer_position(acct, pool, k, -side * take, bp)
            notional = take * self.ex.perps[k].lot_size * bp
            self._log(acct, k, side, take, notional, bp, 0.0, 0.0, 0.0, "pool_takeover")
        return lots - take

    def _settle_residual(
        self, acct: int, k: int, is_isolated: bool, cash_before: float, book_usd: float
    ) -> None:
        """Charge the liquidation fee and pass the residual share to the pool; cover a gap.

        The pool is the one of the unit's largest position `k`. A cross account first sells
        collateral coins for what its USD wallet lacks to pay the fee (`_sell_collateral`).
        """
        ex = self.ex
        if not is_isolated and ex.collateral.enabled:
            due = book_usd * ex.perps[k].liquidation_fee - float(ex.accounts.collateral_usd[acct])
            self._sell_collateral(acct, due)
        left = float(ex.accounts.collateral_usd[acct])
        if is_isolated:
            left -= cash_before  # what the isolated position brought back to the wallet
        pool = self.pools.account(k)
        fee = min(book_usd * ex.perps[k].liquidation_fee, max(0.0, left))
        to_pool = fee + max(0.0, left - fee) * self.cfg.residual_to_pool
        if to_pool > 0:
            ex.ledger.move_cash(acct, pool, to_pool)
            ex.events.add(
                Insurance(
                    t=ex.t,
                    round=self.round,
                    pool=self.pools.pool_of_market[k],
                    market=k,
                    delta_usd=to_pool,
                    balance_usd=self.pools.equity_usd(pool),
                    cause="fee_and_residual",
                )
            )
        elif left < -DUST_USD:
            self.policy.cover_deficit(acct, k, -left, self.round)

    def _sell_collateral(self, acct: int, need_usd: float) -> float:
        """Sell a liquidated account's collateral coins into their spot books (engine IOCs,
        assets in configuration order, walking the bids with no floor) until `need_usd` is
        raised or the coins or bids run out; return the USD raised. Only the lots needed
        are sold; the rest stay with the account."""
        ex, coll = self.ex, self.ex.collateral
        raised = 0.0
        for j, a in enumerate(coll.assets):
            if need_usd - raised <= DUST_USD:
                break
            free = int(ex.accounts.spot_lots[acct, a] - ex.spot_reserved_lots[acct, a])
            lots, worst = coll.lots_to_sell(j, need_usd - raised, free)
            if lots:
                raised += ex.forced.forced_spot_sell(acct, a, lots, worst)[1]
        return raised

    def _log(self, acct, k, side, lots, notional, bp, fee, shortfall, to_pool, kind) -> None:
        ex = self.ex
        qty = lots * ex.perps[k].lot_size
        ex.events.add(
            Liquidation(
                t=ex.t,
                round=self.round,
                account=acct,
                market=k,
                side=side,
                qty=qty,
                price_usd=notional / qty if qty else math.nan,
                bankruptcy_price_usd=bp,
                notional_usd=notional,
                fee_usd=fee,
                shortfall_usd=shortfall,
                to_pool_usd=to_pool,
                kind=kind,
            )
        )
