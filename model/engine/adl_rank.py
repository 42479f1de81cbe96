"""The ADL queue of a large book, kept incrementally within one liquidation round.

`Policy._queue` (absorption.py) ranks every opposite-side position of a market by ADL score
and closes from the top (`adl.queue_allocation`). On a book of a million accounts a cascade
calls it thousands of times a round over hundreds of thousands of candidates, so ranking
them all every time costs O(calls × candidates). Within one round the marks do not move
(`Liquidator.run` re-marks between rounds), so a candidate's score changes only when the
engine writes its row. `AdlRanking` keeps one heap per (market, side) of
(−score, system?, account) entries, scored once a round with `Policy.scores`; rows the engine
wrote since (the ledger's `journal`) are re-scored and pushed again, their old entries skipped.
Popping from the top gives what `queue_allocation` closes: candidates by descending score,
ties to users before system accounts and to lower ids (the candidate order of
`Policy._candidates`), the last one partially, until the lots are met.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

MIN_ACCOUNTS = 5_000
"""Books from this many accounts use the incremental queue (below, ranking all is cheap)."""


class AdlRanking:
    """Incremental ADL queues of one policy (see the module docstring).

    Args:
        policy: The `policy_base.Policy` whose `scores` rank candidates.
    """

    verify = False
    """Check every allocation against `Policy.queue_allocation` (tests)."""

    def __init__(self, policy) -> None:
        self.policy, self.ex = policy, policy.ex
        self._heaps: dict[tuple[int, int], list] = {}
        self._version: dict[int, int] = {}
        self._key: tuple | None = None
        self._epoch = -1
        self._seen = 0

    def take(self, acct: int, k: int, side: int, lots: int, rnd: int):
        """(candidates, lots closed, scores) against `acct`'s `lots` in liquidation round
        `rnd`, in candidate order."""
        self._sync(rnd)
        heap = self._heaps.get((k, side))
        if heap is None:
            heap = self._heaps[(k, side)] = self._build(k, side)
        qty, version = self.ex.accounts.qty_lots, self._version
        chosen, aside, left = [], [], lots
        while left > 0 and heap:
            entry = heap[0]
            cand = entry[3]
            if entry[4] != version.get(cand, 0) or int(qty[cand, k]) * side >= 0:
                heapq.heappop(heap)  # superseded by a newer entry, or no longer opposite
                continue
            heapq.heappop(heap)
            if cand == acct:
                aside.append(entry)
                continue
            take = min(abs(int(qty[cand, k])), left)
            chosen.append((entry[2], cand, take, entry[5]))
            left -= take
        for entry in aside:
            heapq.heappush(heap, entry)
        chosen.sort()  # the candidate order: users by id, then system accounts by id
        cands = np.array([c[1] for c in chosen], dtype=np.int64)
        alloc = np.array([c[2] for c in chosen], dtype=np.int64)
        scores = np.array([c[3] for c in chosen], dtype=np.float64)
        if self.verify:
            self._check(acct, k, side, lots, cands, alloc, scores)
        return cands, alloc, scores

    def _sync(self, rnd: int) -> None:
        """Start afresh on new marks or round; else re-score the rows written since."""
        ex = self.ex
        key = (ex.t, rnd, ex.prices.mark_usd.tobytes())
        journal = ex.journal
        if key != self._key or journal.epoch != self._epoch:
            self._heaps.clear()
            self._version.clear()
            self._key, self._epoch, self._seen = key, journal.epoch, len(journal.rows)
            return
        new = journal.rows[self._seen :]
        self._seen = len(journal.rows)
        if not new:
            return
        rows = np.unique(np.array(new, dtype=np.int64))
        for r in rows.tolist():
            self._version[r] = self._version.get(r, 0) + 1
        for (k, side), heap in self._heaps.items():
            cands = rows[ex.accounts.qty_lots[rows, k] * side < 0]
            if len(cands):
                for entry in self._entries(cands, k):
                    heapq.heappush(heap, entry)

    def _build(self, k: int, side: int) -> list:
        cands = np.flatnonzero(self.ex.accounts.qty_lots[:, k] * side < 0)
        heap = self._entries(cands, k) if len(cands) else []
        heapq.heapify(heap)
        return heap

    def _entries(self, cands: np.ndarray, k: int) -> list[tuple]:
        scores = self.policy.scores(cands, k).tolist()
        system = self.ex.is_system[cands].tolist()
        version = self._version
        return [
            ((1, 0.0) if math.isnan(s) else (0, -s)) + (sy, c, version.get(c, 0), s)
            for c, s, sy in zip(cands.tolist(), scores, system, strict=True)
        ]

    def _check(self, acct, k, side, lots, cands, alloc, scores) -> None:
        ref_cands, ref_alloc, ref_scores = self.policy.queue_allocation(acct, k, side, lots)
        used = ref_alloc > 0
        if not (
            np.array_equal(cands, ref_cands[used])
            and np.array_equal(alloc, ref_alloc[used])
            and np.array_equal(scores, ref_scores[used])
        ):
            raise AssertionError("incremental ADL queue disagrees with the full ranking")
