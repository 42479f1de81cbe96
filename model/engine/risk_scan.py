"""The liquidation trigger scan: which accounts and isolated positions are below maintenance.

The test is the engine's (`Exchange.risk_arrays`, liquidation.py step 1): a cross account is
below maintenance when wallet + Σ cross UPnL < Σ cross MM; an isolated position when its
margin + UPnL < its MM, with UPnL = q·(mark − entry) and MM = N·MMR_b − cum_b at the mark.

Full scan: every position of every account, in blocks of rows small enough to stay in cache,
with the same floating-point operations in the same order as `risk_arrays`, so the flags are
identical, value for value. Row sums over markets add columns left to right, which is what
numpy's `sum(axis=1)` does for rows of fewer than 8 elements (pairwise beyond that, where the
kernel calls `sum` itself).

Incremental scan (large books): after a full scan at marks p0, each account keeps a threshold
on how far the marks may move before it can be below maintenance. For a unit with cross or
isolated positions q_k, equity − MM moves by at most Σ_k |q_k|·|p_k − p0_k|·(1 + MMR_max)
< 2·Σ_k N0_k·r_k, with N0_k = |q_k|·p0_k and r_k = |p_k − p0_k| / p0_k (MM is continuous and
piecewise linear in N with slopes MMR < 1). So a unit whose buffer B0 = equity − MM at p0
(less a 1e-9 relative slack for rounding) exceeds that bound is certainly not below
maintenance. Threshold = B0 / (2·Σ N0), compared with r of the unit's market when all its
positions are in one market, or with max_k r_k otherwise. Each scan checks exactly (full
formulas) the accounts whose threshold the marks have reached, plus every account the engine
wrote since (the ledger's `journal`: fills, cash moves, deposits); a bulk write (funding, new
accounts) or too many candidates trigger a full scan, which resets p0. The units found are the
full scan's, in the same order.

Collateral coins (collateral.py): cross equity adds `Collateral.value_usd`, in the full scan
as in `risk_arrays`. Their prices move with the spot books or the reference, which the
threshold bound above does not cover, so with collateral assets configured every scan is full.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from model.engine.types import FloatArray

BLOCK_ROWS = 16_384
"""Rows per block of the full scan (a block's temporaries stay in the CPU cache)."""
MIN_INCREMENTAL_ACCOUNTS = 5_000
"""Below this many accounts a full scan is cheaper than the incremental bookkeeping."""
REBUILD_SHARE = 0.125
"""A full scan (new reference marks) once candidates exceed this share of accounts."""
SLACK_REL = 1e-9
"""Relative slack on the buffer (of wallet + notional), far above float rounding."""
SMALL_BLOCK = 4_096
"""Blocks of fewer rows use numpy's row reductions (fewer calls) instead of column loops."""

Units = list[tuple[int, int | None]]


def row_sum(x: np.ndarray) -> np.ndarray:
    """Σ over axis 1, columns added left to right (numpy's order for fewer than 8 columns)."""
    m = x.shape[1]
    if m == 1 or m >= 8 or len(x) < SMALL_BLOCK:  # few rows: one call is cheaper
        return x.sum(axis=1)
    out = x[:, 0] + x[:, 1]
    for j in range(2, m):
        out += x[:, j]
    return out


class RiskScanner:
    """Finds liquidation units of an `Exchange`, by full or incremental scan.

    Args:
        ex: The exchange (read only; its ledger's `journal` lists the rows written).
        min_incremental: Accounts from which the incremental scan is used.
        threads: Threads for the blocks of a full scan (numpy releases the GIL inside its
            loops); 1 by default, so sweep workers do not compete for cores.
    """

    verify = False
    """Check every incremental scan against a full one (tests)."""

    def __init__(self, ex, min_incremental: int = MIN_INCREMENTAL_ACCOUNTS, threads: int = 1):
        self.ex = ex
        self.min_incremental = min_incremental
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_threads = 0
        specs = ex.perps
        self._tiers = [s.tiers for s in specs]
        self._mmr0 = np.array([t.mmr_arr[0] for t in self._tiers])
        self._floor1 = np.array([t.floors[1] if t.n_brackets > 1 else np.inf for t in self._tiers])
        self._ref_mark: FloatArray | None = None
        self._thr = np.zeros(0)
        self._grp = np.zeros(0, dtype=np.intp)
        self.full_scans = 0
        self.incremental_scans = 0

    # ------------------------------------------------------------------------------ scan
    def scan(self) -> Units:
        """Units below maintenance: (account, None) cross, (account, market) isolated."""
        ex = self.ex
        n = ex.accounts.n
        mark = ex.prices.mark_usd
        if not np.all(np.isfinite(mark)) or n < self.min_incremental or ex.collateral.enabled:
            self._ref_mark = None
            return self.full_scan()
        if self._ref_mark is None or ex.journal.everything or len(self._thr) != n:
            return self._rebuild(mark)
        rows = ex.journal.rows
        dirty = np.unique(np.fromiter(rows, dtype=np.int64, count=len(rows)))
        ex.journal.caught_up()
        r = np.abs(mark - self._ref_mark) / self._ref_mark
        reach = np.append(r, r.max())
        cand = np.flatnonzero(self._thr <= reach[self._grp])
        if len(cand) + len(dirty) > REBUILD_SHARE * n:
            return self._rebuild(mark)
        if len(dirty):
            _, _, thr, grp = self._flags(dirty, self._ref_mark, with_thresholds=True)
            self._thr[dirty], self._grp[dirty] = thr, grp
        rows = np.union1d(cand, dirty)
        cross, iso, _, _ = self._flags(rows, mark)
        units = _units(rows[cross], rows, iso)
        self.incremental_scans += 1
        if self.verify and units != self.ex.liquidator.scan_reference():
            raise AssertionError("incremental risk scan disagrees with the full scan")
        return units

    def full_scan(self) -> Units:
        """Every account at the current marks (raises like `risk_arrays` on a NaN mark)."""
        ex = self.ex
        mark = ex.prices.mark_usd
        if not np.all(np.isfinite(mark)):
            ex.risk_arrays()  # the reference path: raises on the bad notional
        n = ex.accounts.n
        cross, iso, _, _ = self._flags(slice(0, n), mark)
        ex.journal.caught_up()
        self.full_scans += 1
        return _units(np.flatnonzero(cross), None, iso)

    def _rebuild(self, mark: FloatArray) -> Units:
        ex = self.ex
        n = ex.accounts.n
        cross, iso, self._thr, self._grp = self._flags(slice(0, n), mark, with_thresholds=True)
        self._ref_mark = mark.copy()
        ex.journal.caught_up(everything_seen=True)
        self.full_scans += 1
        return _units(np.flatnonzero(cross), None, iso)

    # ---------------------------------------------------------------------------- kernel
    def _flags(self, rows: slice | np.ndarray, mark: FloatArray, *, with_thresholds=False):
        """(cross flag (r,), isolated flags (r, m), thresholds (r,), groups (r,)) of rows."""
        if isinstance(rows, slice):
            start, stop = rows.start, rows.stop
            blocks = [slice(a, min(stop, a + BLOCK_ROWS)) for a in range(start, stop, BLOCK_ROWS)]
        else:
            blocks = [rows[a : a + BLOCK_ROWS] for a in range(0, len(rows), BLOCK_ROWS)]
        if self.threads > 1 and len(blocks) > 1:
            if self._pool is None or self._pool_threads != self.threads:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="risk-scan")
                self._pool_threads = self.threads
            parts = list(self._pool.map(lambda b: self._block(b, mark, with_thresholds), blocks))
        else:
            parts = [self._block(b, mark, with_thresholds) for b in blocks]
        if not parts:
            m = len(mark)
            return (np.zeros(0, bool), np.zeros((0, m), bool), np.zeros(0), np.zeros(0, np.intp))
        if len(parts) == 1:
            return parts[0]
        cross, iso, thr, grp = zip(*parts, strict=True)
        return (
            np.concatenate(cross),
            np.concatenate(iso),
            np.concatenate(thr) if with_thresholds else None,
            np.concatenate(grp) if with_thresholds else None,
        )

    def _block(self, rows, mark: FloatArray, with_thresholds: bool):
        ex, acc = self.ex, self.ex.accounts
        lots = acc.qty_lots[rows]
        is_iso = acc.is_isolated[rows]
        user = ~ex.is_system[rows]
        q = lots * ex.perp_lot_sizes
        upnl = mark - acc.entry_price_usd[rows]
        upnl *= q
        notional = np.abs(q, out=q)
        notional *= mark
        mm = self._maintenance(notional)
        is_open = lots != 0
        is_cross = np.greater(is_open, is_iso)  # open & ~isolated
        cross_equity = acc.collateral_usd[rows] + row_sum(upnl * is_cross)
        if ex.collateral.enabled:  # as `risk_arrays`: the coins' value after haircut
            cross_equity = cross_equity + ex.collateral.value_usd(rows)
        cross_mm = row_sum(mm * is_cross)
        if len(lots) < SMALL_BLOCK:
            has_cross = is_cross.any(axis=1)
        else:
            has_cross = is_cross[:, 0].copy()
            for j in range(1, is_cross.shape[1]):
                has_cross |= is_cross[:, j]
        cross = user & has_cross & (cross_equity < cross_mm)
        iso_equity = acc.isolated_margin_usd[rows] + upnl
        iso = (iso_equity < mm) & is_open & is_iso & user[:, None]
        if not with_thresholds:
            return cross, iso, None, None
        thr, grp = self._thresholds(
            acc.collateral_usd[rows], cross_equity - cross_mm, notional, is_cross, is_open,
            is_iso, iso_equity - mm, acc.isolated_margin_usd[rows], user,
        )  # fmt: skip
        return cross, iso, thr, grp

    def _maintenance(self, notional: FloatArray) -> FloatArray:
        """MM = N·MMR_b − cum_b per position, b = #{floors ≤ N} − 1 (`TierTable.bracket`).

        Bracket 0 (cum 0) for all, then the few positions above it, market by market.
        """
        mm = notional * self._mmr0
        high = notional >= self._floor1
        if high.any():
            for k in np.flatnonzero(high.any(axis=0)):
                r = np.flatnonzero(high[:, k])
                t, n = self._tiers[k], notional[r, k]
                b = np.searchsorted(t.floors, n, side="right") - 1
                mm[r, k] = n * t.mmr_arr[b] - t.cum_usd[b]
        return mm

    @staticmethod
    def _thresholds(wallet, cross_buffer, notional, is_cross, is_open, is_iso, iso_buffer,
                    iso_margin, user):  # fmt: skip
        """Relative mark move each account can take before it might be below maintenance."""
        with np.errstate(divide="ignore", invalid="ignore"):
            gross = row_sum(notional * is_cross)
            cross_buffer = cross_buffer - SLACK_REL * (np.abs(wallet) + gross)
            thr = np.where(gross > 0, cross_buffer / (2.0 * gross), np.inf)
            iso_buffer = iso_buffer - SLACK_REL * (np.abs(iso_margin) + notional)
            iso_thr = np.where(is_open & is_iso, iso_buffer / (2.0 * notional), np.inf)
        thr = np.minimum(thr, iso_thr.min(axis=1))
        thr[np.isnan(thr)] = -np.inf
        thr[~user] = np.inf
        m = is_open.shape[1]
        n_open = is_open.sum(axis=1)
        grp = np.where(n_open == 1, is_open.argmax(axis=1), m)
        return thr, grp


def _units(cross_accounts: np.ndarray, rows: np.ndarray | None, iso: np.ndarray) -> Units:
    units: Units = [(a, None) for a in cross_accounts.tolist()]
    accts, markets = np.nonzero(iso)
    if rows is not None:
        accts = rows[accts]
    units += list(zip(accts.tolist(), markets.tolist(), strict=True))
    return units
