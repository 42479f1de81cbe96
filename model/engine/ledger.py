"""The ledger: the only writer of money and positions, through a small typed transfer API.

Accounts are arrays (`AccountBook`, struct of arrays by account and market). The ledger keeps
the book private and shows every array read-only (`ledger.qty_lots[...] = 1` raises), so
order entry, the market phases, the liquidator and the policies, which are handed the ledger,
can read positions but change them only through these transfers:

| transfer | what it moves |
|---|---|
| `open_accounts`, `deposit`, `deposit_many`, `deposit_spot`, `withdraw` | money in and out |
| `perp_fill`, `spot_fill` | one side of a match: position, entry, realised PnL, fee |
| `open_positions` | the open interest a run starts with (matched, one price, no fee) |
| `pay_funding` | one market's funding settlement, vectorised |
| `move_cash` | wallet to wallet: pool cover, fees to pools |
| `haircut` | winners' unrealised profit to a wallet: wealth-space ADL, socialised loss |
| `transfer_position` | a position at a set price, no fee: takeover, ADL close |
| `set_leverage`, `set_isolated` | an account's margin settings in a market |

System accounts (fee account, pools, vault, the twin's sink) are ordinary rows flagged
`is_system`, so cash conservation is one sum over all rows. Every write notes its row in the
`journal`, which the incremental risk scan and the ADL queue read to re-check only what moved.
"""

from __future__ import annotations

import numpy as np

from model.engine.accounts import AccountBook
from model.engine.margin import unrealized_pnl_usd
from model.engine.positions import trade_effect
from model.engine.types import FloatArray, IntArray

REL_TOL = 1e-9
"""Relative tolerance of the cash-conservation invariant (DESIGN.md §5)."""
JOURNAL_CAP = 1 << 20
"""Rows remembered as written before the journal notes "every row" instead."""


class InvariantError(AssertionError):
    """Raised by `Ledger.check_invariants` when the books do not add up."""


class Journal:
    """The rows written since a reader last caught up (for incremental scans).

    `rows` grows with every write (offsets stay valid until `caught_up`, which starts a new
    `epoch`); `everything` says a bulk write (funding, new accounts) touched every row.
    """

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.everything = True
        self.epoch = 0
        self.writes = 0  # every write, ever: a lazy reader can tell it is stale

    def note(self, row: int) -> None:
        """One row was written."""
        self.rows.append(row)
        self.writes += 1
        self.trim()

    def note_many(self, rows: IntArray) -> None:
        """Several rows were written."""
        self.rows.extend(np.asarray(rows, dtype=np.int64).ravel().tolist())
        self.writes += 1

    def note_all(self) -> None:
        """Every row was written."""
        self.everything = True
        self.caught_up()
        self.writes += 1

    def caught_up(self, *, everything_seen: bool = False) -> None:
        """A reader has caught up: empty the list (and the bulk flag, when it saw all rows)."""
        self.rows.clear()
        self.epoch += 1
        if everything_seen:
            self.everything = False

    def trim(self) -> None:
        """Note every row instead of the list once nobody has read it for long."""
        if len(self.rows) > JOURNAL_CAP:
            self.note_all()


class Ledger:
    """Accounts, system rows, deposits and the running counts; the one writer of all of them.

    Args:
        perp_lot_sizes: Coins per lot of each perp market.
        spot_lot_sizes: Coins per lot of each spot asset.
    """

    _ARRAYS = AccountBook.NAMES

    def __init__(self, perp_lot_sizes: FloatArray, spot_lot_sizes: FloatArray) -> None:
        self.perp_lot_sizes = np.asarray(perp_lot_sizes, dtype=float)
        self._lot_list = self.perp_lot_sizes.tolist()
        self._book = AccountBook(len(self.perp_lot_sizes), len(spot_lot_sizes))
        self.n_markets, self.n_spot = self._book.n_markets, self._book.n_spot
        self.journal = Journal()
        self.deposits_usd = 0.0
        self.withdrawals_usd = 0.0
        self.spot_deposits_lots = np.zeros(self.n_spot, dtype=np.int64)
        self._is_system = np.zeros(0, dtype=bool)
        self._long_lots = [0] * self.n_markets  # Σ long lots per perp
        self._n_open: list[int] = []  # open positions per account
        self.users_in_position = 0
        self.last_funding_residual_usd = 0.0
        self.last_funding_gross_usd = 0.0
        self._refresh()
        self.fee_account = self.open_account(is_system=True)

    # ---------------------------------------------------------------------------- reading
    def _refresh(self) -> None:
        """Re-expose every array read-only (after the book grew)."""
        self.n = self._book.n
        for name in self._ARRAYS:
            setattr(self, name, self._book.view(name))
        self.is_system = self._is_system[: self.n].view()
        self.is_system.flags.writeable = False

    def view(self, name: str) -> np.ndarray:
        """A read-only view of one account array by name."""
        return getattr(self, name)

    @property
    def long_lots(self) -> np.ndarray:
        """Σ long positions per perp in lots (= open interest; every long has a short)."""
        return np.array(self._long_lots, dtype=np.int64)

    def is_account(self, account: object) -> bool:
        """Whether `account` is the id of an open account."""
        return isinstance(account, (int, np.integer)) and 0 <= account < self.n

    def require_account(self, account: int) -> None:
        """Raise a ValueError naming the account unless it is open."""
        if not self.is_account(account):
            raise ValueError(f"unknown account {account!r}; open accounts are 0..{self.n - 1}")

    # -------------------------------------------------------------------- money in and out
    def open_account(self, deposit_usd: float = 0.0, *, is_system: bool = False) -> int:
        """Open one account, optionally with a first deposit; return its id."""
        return int(self.open_accounts(1, deposit_usd, is_system=is_system)[0])

    def open_accounts(
        self, count: int, deposit_usd: float | FloatArray = 0.0, *, is_system: bool = False
    ) -> IntArray:
        """Open `count` accounts at once (vectorised), each with its deposit; return ids."""
        deposits = np.broadcast_to(np.asarray(deposit_usd, dtype=float), (count,))
        if np.any(~np.isfinite(deposits)) or np.any(deposits < 0):
            raise ValueError(f"deposit_usd must be finite and >= 0, got {deposit_usd!r}")
        ids = self._book.add(count)
        self._is_system = resize(self._is_system, self._book.n, False)
        self._is_system[ids] = is_system
        self._n_open.extend([0] * count)
        self._book.collateral_usd[ids] += deposits
        self.deposits_usd += float(deposits.sum())
        self._refresh()
        self.journal.note_all()
        return ids

    def deposit(self, account: int, usd: float) -> None:
        """Credit a USD deposit to an account."""
        self.require_account(account)
        if not np.isfinite(usd) or usd <= 0:
            raise ValueError(f"deposit usd must be a finite number > 0, got {usd!r}")
        self._book.collateral_usd[account] += usd
        self.deposits_usd += usd
        self.journal.note(account)

    def deposit_many(self, accounts: IntArray, usd: FloatArray) -> None:
        """Credit a USD deposit to each of several distinct accounts at once (vectorised)."""
        ids = np.asarray(accounts, dtype=np.int64)
        amounts = np.asarray(usd, dtype=float)
        if ids.shape != amounts.shape or len(np.unique(ids)) != len(ids):
            raise ValueError("deposit_many needs one amount per account and distinct accounts")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n):
            raise ValueError(f"unknown account among {ids.min()}..{ids.max()}")
        if np.any(~np.isfinite(amounts)) or np.any(amounts < 0):
            raise ValueError("deposit usd must be finite and >= 0")
        self._book.collateral_usd[ids] += amounts
        self.deposits_usd += float(amounts.sum())
        self.journal.note_all()

    def deposit_spot(self, account: int, asset: int, lots: int) -> None:
        """Credit `lots` (> 0) of a spot asset to an account."""
        self.require_account(account)
        if not (isinstance(lots, (int, np.integer)) and lots > 0):
            raise ValueError(f"spot deposit lots must be a whole number > 0, got {lots!r}")
        self._book.spot_lots[account, asset] += lots
        self.spot_deposits_lots[asset] += lots
        self.journal.note(account)

    def withdraw(self, account: int, usd: float) -> None:
        """Pay out `usd` (finite, > 0) from a wallet; the caller has checked that the
        account may withdraw it (`Balances.withdrawable_usd`)."""
        self.require_account(account)
        if not (np.isfinite(usd) and usd > 0):
            raise ValueError(f"withdrawal usd must be a finite number > 0, got {usd!r}")
        self._book.collateral_usd[account] -= usd
        self.withdrawals_usd += usd
        self.journal.note(account)

    # ------------------------------------------------------------------------- positions
    def set_leverage(self, account: int, market: int, leverage: float) -> None:
        """An account's leverage setting in one market."""
        self._book.leverage[account, market] = leverage

    def set_isolated(self, account: int, market: int, isolated: bool) -> None:
        """An account's margin mode in one market (isolated or cross)."""
        self._book.is_isolated[account, market] = isolated

    def perp_fill(
        self, acct: int, k: int, signed_lots: int, price_usd: float, fee_usd: float
    ) -> float:
        """Move one account's position by `signed_lots` at `price_usd`, charge `fee_usd` to the
        fee account; return the realised PnL (positions.trade_effect). An isolated position
        locks opening notional / leverage from the wallet and releases its margin pro rata."""
        acc = self._book
        old = int(acc.qty_lots[acct, k])
        lot = self._lot_list[k]
        new, entry, realized, closed, opened = trade_effect(
            old, float(acc.entry_price_usd[acct, k]), signed_lots, price_usd, lot
        )
        cash = realized - fee_usd
        if acc.is_isolated[acct, k]:
            release = acc.isolated_margin_usd[acct, k] * closed / abs(old) if closed else 0.0
            lock = opened * lot * price_usd / acc.leverage[acct, k]
            acc.isolated_margin_usd[acct, k] += lock - release
            cash += release - lock
        acc.qty_lots[acct, k] = new
        if new != old:
            self._count_position(acct, k, old, new)
        acc.entry_price_usd[acct, k] = entry
        acc.realized_pnl_usd[acct, k] += realized
        acc.fees_paid_usd[acct, k] += fee_usd
        acc.collateral_usd[acct] += cash
        acc.collateral_usd[self.fee_account] += fee_usd
        self.journal.rows.append(acct)  # `note`, inline on the hot path
        self.journal.writes += 1
        return realized

    def _count_position(self, acct: int, k: int, old: int, new: int) -> None:
        self._long_lots[k] += (new if new > 0 else 0) - (old if old > 0 else 0)
        if (old == 0) != (new == 0):
            step = 1 if old == 0 else -1
            self._n_open[acct] += step
            if self._n_open[acct] == (step > 0) and not self._is_system[acct]:
                self.users_in_position += step

    def spot_fill(
        self, a: int, acct: int, signed_lots: int, price_usd: float, lot: float, fee_usd: float
    ) -> None:
        """Move one account's coins of spot asset `a` by `signed_lots` against USD, plus fee."""
        self._book.spot_lots[acct, a] += signed_lots
        self._book.collateral_usd[acct] -= signed_lots * lot * price_usd + fee_usd
        self._book.collateral_usd[self.fee_account] += fee_usd
        self.journal.rows.append(acct)  # `note`, inline on the hot path
        self.journal.writes += 1

    def transfer_position(
        self, src: int, dst: int, k: int, src_lots: int, price_usd: float
    ) -> None:
        """Move a position between two accounts at a set price, no fee (takeover, ADL)."""
        self.perp_fill(src, k, src_lots, price_usd, 0.0)
        self.perp_fill(dst, k, -src_lots, price_usd, 0.0)

    def open_positions(
        self,
        market: int,
        ids: IntArray,
        lots: IntArray,
        price_usd: float,
        leverage: FloatArray,
        isolated: np.ndarray,
    ) -> None:
        """Open matched positions in one market at one price, no fee (checked by the caller:
        lots net to zero, accounts flat and distinct, margin affordable); isolated margin
        = notional / leverage moves out of the wallet."""
        acc = self._book
        acc.leverage[ids, market] = leverage
        acc.is_isolated[ids, market] = isolated
        acc.qty_lots[ids, market] = lots
        acc.entry_price_usd[ids, market] = np.where(lots != 0, price_usd, 0.0)
        notional = np.abs(lots) * self._lot_list[market] * price_usd
        locked = np.where(isolated & (lots != 0), notional / leverage, 0.0)
        acc.isolated_margin_usd[ids, market] = locked
        acc.collateral_usd[ids] -= locked
        opened = ids[lots != 0]
        n_open = np.array(self._n_open, dtype=np.int64)
        newly = opened[(n_open[opened] == 0) & ~self._is_system[opened]]
        n_open[opened] += 1
        self._n_open = n_open.tolist()
        self.users_in_position += len(newly)
        self._long_lots[market] += int(lots[lots > 0].sum())
        self.journal.note_all()

    # ------------------------------------------------------------------------------ cash
    def move_cash(self, src: int, dst: int, usd: float) -> None:
        """Move USD between two wallets (pools and vault are accounts too)."""
        self._book.collateral_usd[src] -= usd
        self._book.collateral_usd[dst] += usd
        self.journal.note(src)
        self.journal.note(dst)

    def haircut(self, payers: IntArray, amounts_usd: FloatArray, dst: int) -> None:
        """Take `amounts_usd[i, k]` out of payer i's unrealised profit in market k and pay
        it into `dst`'s wallet (vectorised): each position's entry moves by a/q (q signed
        coins), so its UPnL q·(mark − entry) falls by exactly a at any mark, and the payer's
        wallet is not touched. The caller takes no more than a leg's profit, so a haircut
        reduces what a winner has won without making its wallet (or equity) negative."""
        rows, cols = np.nonzero(amounts_usd)
        if not len(rows):
            return
        ids = np.asarray(payers, dtype=np.int64)[rows]
        coins = self._book.qty_lots[ids, cols] * self.perp_lot_sizes[cols]
        if np.any(coins == 0):
            raise ValueError("a haircut needs an open position in each leg it takes from")
        np.add.at(self._book.entry_price_usd, (ids, cols), amounts_usd[rows, cols] / coins)
        self._book.collateral_usd[dst] += float(amounts_usd[rows, cols].sum())
        self.journal.note_many(ids)
        self.journal.note(dst)

    def pay_funding(self, k: int, pay_usd: FloatArray) -> None:
        """Settle one market's funding: each account pays `pay_usd` (negative: receives), from
        its isolated margin for an isolated position, else from its wallet (Binance)."""
        acc = self._book
        iso = acc.is_isolated[:, k]
        acc.isolated_margin_usd[:, k] -= np.where(iso, pay_usd, 0.0)
        acc.collateral_usd[:] -= np.where(iso, 0.0, pay_usd)
        acc.funding_paid_usd[:, k] += pay_usd
        self.journal.note_all()
        self.last_funding_residual_usd = float(pay_usd.sum())
        self.last_funding_gross_usd = float(np.abs(pay_usd).sum())

    # ------------------------------------------------------------------------ invariants
    def equity_usd(self, mark_usd: FloatArray, rows=slice(None)) -> FloatArray:
        """Total equity per account: wallet + isolated margins + Σ unrealised PnL at the marks."""
        qty = self.qty_lots[rows] * self.perp_lot_sizes
        return (
            self.collateral_usd[rows]
            + self.isolated_margin_usd[rows].sum(axis=1)
            + unrealized_pnl_usd(qty, self.entry_price_usd[rows], mark_usd).sum(axis=1)
        )

    def check_invariants(self, mark_usd: FloatArray) -> None:
        """Raise `InvariantError` unless money, open interest and spot coins all balance.

        - money: total equity (every row, system rows included) == deposits − withdrawals,
          to REL_TOL relative (with zero net open interest it does not depend on the marks);
        - zero net open interest per perp market (integer lots, exact);
        - spot coins: Σ holdings == coins deposited, per asset (exact);
        - the last funding settlement summed to zero (to REL_TOL of its gross);
        - the running counts (long lots, open positions, users in a position) agree.
        """
        total = float(self.equity_usd(mark_usd).sum())
        expected = self.deposits_usd - self.withdrawals_usd
        if abs(total - expected) > REL_TOL * max(1.0, self.deposits_usd):
            raise InvariantError(
                f"money not conserved: books hold {total!r}, expected {expected!r}"
            )
        net = self.qty_lots.sum(axis=0)
        if np.any(net != 0):
            raise InvariantError(f"net open interest not zero per market: {net.tolist()}")
        if np.any(self.spot_lots.sum(axis=0) != self.spot_deposits_lots):
            raise InvariantError("spot coins not conserved")
        if abs(self.last_funding_residual_usd) > REL_TOL * max(1.0, self.last_funding_gross_usd):
            raise InvariantError(
                f"funding not zero-sum: residual {self.last_funding_residual_usd!r}"
            )
        is_open = self.qty_lots != 0
        if (
            np.any(self.long_lots != np.where(self.qty_lots > 0, self.qty_lots, 0).sum(axis=0))
            or np.any(np.array(self._n_open) != is_open.sum(axis=1))
            or self.users_in_position != int(is_open[~self.is_system].any(axis=1).sum())
        ):
            raise InvariantError("running position counts disagree with the positions")


def resize(arr: np.ndarray, n: int, fill: object) -> np.ndarray:
    """Return `arr` with at least n rows: itself if it has them, else a copy grown to
    max(n, 2 × rows) with the new rows set to `fill` (amortised growth of account arrays)."""
    if arr.shape[0] >= n:
        return arr
    out = np.full((max(n, 2 * arr.shape[0]), *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out
