"""L2 limit order book for spot and perp markets: resting orders, matching and fill reports.

It never touches money (the exchange engine applies the fills). Prices are integer ticks and sizes
integer lots, so matching is exact; tick_size and lot_size only serve the USD queries, whose
arithmetic over the levels (`walk`) is in `book_depth`.

Design choices:
- Allocation within a level is FIFO price-time priority, as on Binance and CME outright futures.
- Self-trade prevention follows Binance's EXPIRE_MAKER mode: a resting order of the taker's own
  account that would be matched is cancelled and matching continues with the next maker.
- A post-only order that would cross the opposite best price is rejected whole (Binance GTX rejects
  rather than re-pricing); the check ignores ownership, so crossing one's own order also rejects.
- Per side, level keys `price_ticks * side` sit in an ascending list, so the best level is at the
  end for both sides: a drained level is `pop()`-ed and a new one is placed with `bisect`. Cancels
  are lazy in the FIFO deques (dead ids are skipped when matching); level totals stay exact.
"""

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass
from itertools import islice
from numbers import Integral

from model.engine import book_depth

BUY, SELL = 1, -1
_OWNER, _SIDE, _PRICE, _LOTS = range(4)  # fields of an order record
_LEVEL_QUEUE, _LEVEL_LOTS, _LEVEL_LIVE = range(3)  # fields of a price level
_COMPACT_SLACK = 16  # dead ids tolerated in a level deque beyond the number of live ones


@dataclass(frozen=True, slots=True)
class Fill:
    """One match between the taker and a resting order, at the maker's price."""

    maker_owner: int
    maker_order_id: int
    price_ticks: int
    qty_lots: int


@dataclass(frozen=True, slots=True)
class OrderResult:
    """Outcome of `OrderBook.submit`; filled_lots + rested_lots + expired_lots == qty_lots."""

    order_id: int  # id of the resting remainder, or -1 if nothing rests
    fills: tuple[Fill, ...]
    filled_lots: int
    rested_lots: int
    expired_lots: int  # IOC or market remainder, or the whole of a rejected post-only order
    stp_cancelled: tuple[int, ...]  # taker's own resting orders removed by self-trade prevention


def _as_int(field: str, value: object) -> int:
    """Return `value` as a positive int, or raise ValueError naming the field (bools rejected)."""
    if type(value) is int and value > 0:  # the common case, without the slow ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"{field} must be a positive int, got {value!r}")
    return int(value)


def _as_side(side: object) -> int:
    """Return `side` as BUY (1) or SELL (-1), or raise ValueError."""
    if type(side) is int and side in (BUY, SELL):  # the common case, without the ABC check
        return side
    if isinstance(side, bool) or not isinstance(side, Integral) or side not in (BUY, SELL):
        raise ValueError(f"side must be BUY (1) or SELL (-1), got {side!r}")
    return int(side)


class OrderBook:
    """Price-time priority limit order book in integer ticks and lots."""

    def __init__(self, tick_size: float, lot_size: float) -> None:
        """Create an empty book; `tick_size` is USD per tick, `lot_size` coins per lot."""
        for field, value in (("tick_size", tick_size), ("lot_size", lot_size)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{field} must be a positive finite number, got {value!r}")
        self.tick_size = float(tick_size)
        self.lot_size = float(lot_size)
        self._keys: dict[int, list[int]] = {BUY: [], SELL: []}  # price*side ascending, best last
        # price -> [FIFO ids (deque), total lots, live ids] per side
        self._levels: dict[int, dict[int, list]] = {BUY: {}, SELL: {}}
        self._orders: dict[int, list[int]] = {}  # id -> [owner, side, price_ticks, remaining_lots]
        self._by_owner: dict[int, set[int]] = {}
        self._next_id = 1

    @property
    def n_orders(self) -> int:
        """Number of resting orders."""
        return len(self._orders)

    def submit(
        self,
        owner: int,
        side: int,
        qty_lots: int,
        limit_ticks: int | None = None,
        *,
        ioc: bool = False,
        post_only: bool = False,
    ) -> OrderResult:
        """Match an order as taker, then rest, expire or reject its remainder.

        A market order (`limit_ticks=None`) walks the book until filled or the side is empty and
        never rests. A limit order matches up to `limit_ticks`, then rests (GTC) unless `ioc`.
        A post-only order that would cross is rejected: no fills, expired_lots == qty_lots.

        Raises:
            ValueError: side not in (1, -1), qty_lots or limit_ticks not a positive int, or
                post_only without a limit price.
        """
        side = _as_side(side)
        qty_lots = _as_int("qty_lots", qty_lots)
        if limit_ticks is not None:
            limit_ticks = _as_int("limit_ticks", limit_ticks)
        elif post_only:
            raise ValueError("post_only requires limit_ticks, got limit_ticks=None")
        if post_only and self._crosses(side, limit_ticks):
            return OrderResult(-1, (), 0, 0, qty_lots, ())
        fills, stp_cancelled, left_lots = self._match(owner, side, qty_lots, limit_ticks)
        filled_lots = qty_lots - left_lots  # = Σ fill.qty_lots
        if left_lots and limit_ticks is not None and not ioc:
            order_id = self._rest(owner, side, left_lots, limit_ticks)
            return OrderResult(order_id, fills, filled_lots, left_lots, 0, stp_cancelled)
        return OrderResult(-1, fills, filled_lots, 0, left_lots, stp_cancelled)

    def rest(self, owner: int, side: int, qty_lots: int, limit_ticks: int) -> int:
        """Rest a limit order known not to cross (a maker's ladder); return its id.

        The same as a post-only `submit` that does not cross, without its matching pass.

        Raises:
            ValueError: bad side, size or price, or the order would cross.
        """
        return self.rest_many(owner, side, [(qty_lots, limit_ticks)])[0]

    def rest_many(self, owner: int, side: int, orders: list[tuple[int, int]]) -> list[int]:
        """`rest` each (qty_lots, limit_ticks) of one side in turn; return their ids.

        Raises:
            ValueError: bad side, size or price, or an order would cross (nothing rests).
        """
        side = _as_side(side)
        orders = [(_as_int("qty_lots", q), _as_int("limit_ticks", t)) for q, t in orders]
        if not orders:
            return []
        # the most aggressive price decides: the opposite side does not move
        edge = max(t for _, t in orders) if side == BUY else min(t for _, t in orders)
        if self._crosses(side, edge):
            raise ValueError(f"rest: a {side:+d} order at {edge} ticks would cross")
        return self.rest_ladder(owner, side, orders)

    def rest_ladder(self, owner: int, side: int, orders: list[tuple[int, int]]) -> list[int]:
        """`rest_many` without its checks, for a caller that made them (`post_quotes`).

        The caller guarantees side is BUY or SELL, every (qty_lots, limit_ticks) holds
        positive ints and no price reaches the opposite best; then the result (ids, levels,
        queues) is that of `rest_many`, in one loop.
        """
        if not orders:
            return []
        first = self._next_id
        self._next_id += len(orders)
        ids = list(range(first, self._next_id))
        book_orders, levels, keys = self._orders, self._levels[side], self._keys[side]
        for order_id, (lots, price) in zip(ids, orders, strict=True):
            book_orders[order_id] = [owner, side, price, lots]
            level = levels.get(price)
            if level is None:
                insort(keys, price * side)
                levels[price] = [deque((order_id,)), lots, 1]
            else:
                level[_LEVEL_QUEUE].append(order_id)
                level[_LEVEL_LOTS] += lots
                level[_LEVEL_LIVE] += 1
        owned = self._by_owner.get(owner)
        if owned is None:
            self._by_owner[owner] = set(ids)
        else:
            owned.update(ids)
        return ids

    def cancel(self, order_id: int) -> int:
        """Cancel a resting order; return the lots cancelled (0 if unknown or already gone)."""
        order = self._orders.get(order_id)
        if order is None:
            return 0
        lots = self._unlink(order_id)
        self._tidy_level(order[_SIDE], order[_PRICE])
        return lots

    def cancel_orders_of(self, owner: int) -> list[int]:
        """Cancel every resting order of `owner`, oldest first; return their ids.

        The same as `cancel` on each id in turn (one loop, for a maker's whole ladder).
        """
        ids = sorted(self._by_owner.pop(owner, ()))
        orders, levels_of = self._orders, self._levels
        for order_id in ids:
            _, side, price, lots = orders.pop(order_id)
            levels = levels_of[side]
            level = levels[price]
            level[_LEVEL_LOTS] -= lots
            level[_LEVEL_LIVE] -= 1
            if level[_LEVEL_LOTS] == 0:
                keys = self._keys[side]
                del keys[bisect_left(keys, price * side)]
                del levels[price]
            elif len(level[_LEVEL_QUEUE]) > 2 * level[_LEVEL_LIVE] + _COMPACT_SLACK:
                level[_LEVEL_QUEUE] = deque(i for i in level[_LEVEL_QUEUE] if i in orders)
        return ids

    def cancel_owner(self, owner: int) -> int:
        """Cancel every resting order of `owner`; return how many orders were cancelled."""
        order_ids = sorted(self._by_owner.get(owner, ()))
        for order_id in order_ids:
            self.cancel(order_id)
        return len(order_ids)

    def best_bid(self) -> int | None:
        """Return the highest bid in ticks, or None if there are no bids."""
        return self._best(BUY)

    def best_ask(self) -> int | None:
        """Return the lowest ask in ticks, or None if there are no asks."""
        return self._best(SELL)

    def mid_price(self) -> float | None:
        """Return the mid in USD, (best_bid + best_ask) / 2 * tick_size; None if a side is empty."""
        bid, ask = self._best(BUY), self._best(SELL)
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2 * self.tick_size

    def depth_usd(self, pct: float, side: int | None = None) -> float:
        """Return the USD notional resting within ±pct (a fraction) of the reference price.

        The reference is the mid in ticks, or the best price of the only non-empty side; an empty
        book has depth 0. Notional = sum(price_ticks * lots) * tick_size * lot_size over levels in
        [ref * (1 - pct), ref * (1 + pct)], edges inclusive; `side=None` sums both sides.
        """
        if not (math.isfinite(pct) and pct >= 0):
            raise ValueError(f"pct must be a finite fraction >= 0, got {pct!r}")
        sides = (BUY, SELL) if side is None else (_as_side(side),)
        ref_ticks = book_depth.reference_ticks(self._best(BUY), self._best(SELL))
        if ref_ticks is None:
            return 0.0
        lo, hi = book_depth.band_edges(ref_ticks, pct)
        tick_lots = sum(book_depth.band_tick_lots(self.walk(s), lo, hi) for s in sides)
        return tick_lots * self.tick_size * self.lot_size

    def depth_usd_bands(self, pcts: tuple[float, ...]) -> list[float]:
        """`depth_usd(p)` (both sides) for every p in `pcts`, in one walk of each side
        (`book_depth.depth_bands_tick_lots`): the same integer totals."""
        if any(not (math.isfinite(p) and p >= 0) for p in pcts):
            raise ValueError(f"pcts must be finite fractions >= 0, got {pcts!r}")
        ref_ticks = book_depth.reference_ticks(self._best(BUY), self._best(SELL))
        if ref_ticks is None:
            return [0.0] * len(pcts)
        tick_lots = book_depth.depth_bands_tick_lots(
            self.walk(BUY), self.walk(SELL), ref_ticks, pcts
        )
        return [t * self.tick_size * self.lot_size for t in tick_lots]

    def impact_price(self, side: int, notional_usd: float) -> float | None:
        """Return the average USD price a taker of `side` gets for `notional_usd`; never mutates.

        BUY walks the asks (impact ask), SELL walks the bids (impact bid), as in Binance's funding
        premium index. avg = notional_usd / coins bought, where the last level contributes the
        fractional coins remaining_usd / price_usd. None if the side cannot absorb the notional.
        """
        book_side = -_as_side(side)
        if not (math.isfinite(notional_usd) and notional_usd > 0):
            raise ValueError(f"notional_usd must be a positive finite number, got {notional_usd!r}")
        tick_lots = notional_usd / (self.tick_size * self.lot_size)
        taken_lots = book_depth.impact_lots(self.walk(book_side), tick_lots)
        return None if taken_lots is None else notional_usd / (taken_lots * self.lot_size)

    def levels(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        """Return up to `n` levels of `side` as (price_ticks, total_lots), best first."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, Integral) or n < 0):
            raise ValueError(f"n must be an int >= 0 or None, got {n!r}")
        return list(islice(self.walk(_as_side(side)), n))

    def open_orders(self, owner: int) -> list[int]:
        """Return the ids of `owner`'s resting orders, oldest first."""
        return sorted(self._by_owner.get(owner, ()))

    def order_info(self, order_id: int) -> tuple[int, int, int, int] | None:
        """Return (owner, side, price_ticks, remaining_lots) of a resting order, else None."""
        order = self._orders.get(order_id)
        return None if order is None else tuple(order)

    def _best(self, side: int) -> int | None:
        keys = self._keys[side]
        return keys[-1] * side if keys else None

    def walk(self, side: int):
        """Yield (price_ticks, total_lots) of `side` (BUY or SELL) from the best level outward;
        lazily, so a query stops where it needs to. The book must not change during the walk."""
        levels = self._levels[side]
        for key in reversed(self._keys[side]):
            yield key * side, levels[key * side][_LEVEL_LOTS]

    def _crosses(self, side: int, limit_ticks: int) -> bool:
        """Return whether the order would match: (limit_ticks - best_opposite) * side >= 0."""
        best = self._best(-side)
        return best is not None and (limit_ticks - best) * side >= 0

    def _match(
        self, owner: int, side: int, qty_lots: int, limit_ticks: int | None
    ) -> tuple[tuple[Fill, ...], tuple[int, ...], int]:
        """Take liquidity from the opposite side, best level first, FIFO within a level.

        Returns the fills, the taker's own orders cancelled by self-trade prevention, and the
        lots left unfilled.
        """
        book_side = -side
        keys, levels, orders = self._keys[book_side], self._levels[book_side], self._orders
        fills: list[Fill] = []
        stp_cancelled: list[int] = []
        left_lots = qty_lots
        while left_lots and keys:
            price = keys[-1] * book_side
            if limit_ticks is not None and (limit_ticks - price) * side < 0:
                break
            level = levels[price]
            queue = level[_LEVEL_QUEUE]
            while left_lots and queue:
                order_id = queue[0]
                order = orders.get(order_id)
                if order is None:  # lazily cancelled earlier
                    queue.popleft()
                elif order[_OWNER] == owner:
                    queue.popleft()
                    self._unlink(order_id)
                    stp_cancelled.append(order_id)
                else:
                    take_lots = min(left_lots, order[_LOTS])
                    fills.append(Fill(order[_OWNER], order_id, price, take_lots))
                    left_lots -= take_lots
                    order[_LOTS] -= take_lots
                    level[_LEVEL_LOTS] -= take_lots
                    if order[_LOTS] == 0:
                        queue.popleft()
                        self._unlink(order_id)
            if level[_LEVEL_LOTS] == 0:
                keys.pop()
                del levels[price]
        return tuple(fills), tuple(stp_cancelled), left_lots

    def _rest(self, owner: int, side: int, lots: int, price: int) -> int:
        """Append a new order at the back of its level's queue; return its id."""
        order_id = self._next_id
        self._next_id += 1
        self._orders[order_id] = [owner, side, price, lots]
        owned = self._by_owner.get(owner)
        if owned is None:
            self._by_owner[owner] = {order_id}
        else:
            owned.add(order_id)
        levels = self._levels[side]
        level = levels.get(price)
        if level is None:
            insort(self._keys[side], price * side)
            levels[price] = [deque((order_id,)), lots, 1]
        else:
            level[_LEVEL_QUEUE].append(order_id)
            level[_LEVEL_LOTS] += lots
            level[_LEVEL_LIVE] += 1
        return order_id

    def _unlink(self, order_id: int) -> int:
        """Drop an order from the records and its level totals (its id stays in the deque)."""
        owner, side, price, lots = self._orders.pop(order_id)
        owned = self._by_owner[owner]
        owned.discard(order_id)
        if not owned:
            del self._by_owner[owner]
        level = self._levels[side][price]
        level[_LEVEL_LOTS] -= lots
        level[_LEVEL_LIVE] -= 1
        return lots

    def _tidy_level(self, side: int, price: int) -> None:
        """Remove an emptied level, or compact its deque once dead ids outnumber live ones."""
        level = self._levels[side][price]
        if level[_LEVEL_LOTS] == 0:
            keys = self._keys[side]
            del keys[bisect_left(keys, price * side)]
            del self._levels[side][price]
            return
        queue = level[_LEVEL_QUEUE]
        if len(queue) > 2 * level[_LEVEL_LIVE] + _COMPACT_SLACK:
            level[_LEVEL_QUEUE] = deque(i for i in queue if i in self._orders)
