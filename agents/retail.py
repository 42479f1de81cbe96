"""The retail crowd: one Mesa agent trading a vector of small leveraged perp accounts.

Every per-account trait is a numpy array drawn once from the cohort's own stream; `decide`
draws who acts this minute, masks over that subset and builds `Order` objects only for it.
"""

from __future__ import annotations

import mesa
import numpy as np

from agents.base import Intent, Trader
from model.engine.orders import Order
from model.engine.types import BoolArray, FloatArray, IntArray, OrderKind
from model.trader_config import RetailConfig
from model.views import AccountsView, MarketView

FUNDING_AWARE_MAX_RATE = 0.0003
"""Funding per 8 h above which funding-aware accounts skip longs: 0.0003 × 3 × 365 ≈ 33 % APR."""
RUIN_EQUITY_SHARE = 0.10
"""A flat account whose equity is below this share of its initial deposit is ruined."""
LEVERAGE_GROUPS = ("high", "mid", "moderate", "low")
"""The leverage groups, in the order `RetailCohort.leverage_groups` indexes them; group g
draws from `RetailConfig.<g>_leverage` with probability `<g>_leverage_share` (low: the rest)."""
_EPS = 1e-9  # slack for float noise before floor/ceil onto the lot and tick grids


class RetailCohort(Trader):
    """Retail accounts that open leveraged perp positions on FOMO and hold them.

    Args:
        model: The Mesa model (registration only).
        accounts: Exchange account ids of the cohort, already opened and funded by the model.
        rng: The cohort's own random stream; the only source of randomness here.
        cfg: Retail parameters (`model.trader_config.RetailConfig`).
        n_assets: Number of perp markets; `cfg.asset_weights` needs one weight per asset.
        initial_deposit_usd: Each account's initial deposit, USD. When None it is read from
            `accounts.equity_usd` on the first `decide`, before the cohort has traded.
        deposit_scales: Per asset, a multiplier on the deposits of the accounts trading it
            (`AssetConfig.deposit_scale`); the model credits the scaled deposits.
        leverage_scales: Per asset, a multiplier on the leverage of the accounts trading it
            (`AssetConfig.leverage_scale`), applied after the group's draw.

    Raises:
        ValueError: If `cfg.asset_weights` has the wrong length or sums to zero.

    Notes:
        Traits (arrays over the cohort, drawn in this order from `rng`):

        - home asset ~ Categorical(asset_weights); an account only ever trades it;
        - leverage ~ U(high_leverage) with probability high_leverage_share, U(mid_leverage)
          with probability mid_leverage_share, U(moderate_leverage) with probability
          moderate_leverage_share, else U(low_leverage) (uniform within each group, not
          log-uniform); the order uses
          L = min(leverage, view.max_leverage[asset]) (tier-1 cap only; a big account's
          notional can still exceed a higher bracket's cap, and the exchange rejects it);
        - side quantile u ~ U(0, 1): long-biased iff u < long_bias. An entry goes long iff
          u < clip(long_bias + momentum · return_15m, 0, 1), so across accounts
          P(long) = p_long (FOMO turns the least short-minded accounts long first);
        - has_stop, is_isolated, is_funding_aware ~ Bernoulli(share).

        Per minute (Bernoulli draws via `_bernoulli_members`, O(number of hits)):

        - Opening book: a share open_at_start of the accounts hold a position from minute 0
          (`opening_positions`, sized as an entry at the start price; the model opens them
          matched with the hedged books, `model/opening.py`); at minute 0 those with a stop
          place it.
        - Each minute an account in a position acts with probability trade_prob (a
          take-profit check, below) and a flat one with probability entry_prob: it enters:
          qty = equity · f · L / ask (long) or / bid (short), f = position_fraction
          (high_leverage_fraction for a 50–100x account), floored to
          lots (the mark stands in for an empty book side, as at t = 0), market order
          with `leverage=L`, `isolated=` its mode. A funding-aware account skips (does not
          flip short) a long when funding_rate > 0.0003 per 8 h.
          An account in a position closes it (reduce-only market) when
          q · (mark − entry) ≥ take_profit · |q| · entry / L.
        - An entry with a stop also returns a reduce-only STOP_MARKET on the other side for
          the same qty at `stop_triggers` (the loss reaching stop_loss × margin).
        - Ruined accounts (flat and equity < 10 % of the initial deposit) come back with
          probability reentry_prob per minute. Only the exchange can credit money, so they
          are returned as data, not orders: `self.deposit_requests` holds
          (account id, USD = initial deposit), cleared at the start of every `decide`, and
          the model calls `exchange.deposit` for each.

        Agents cannot cancel stops: a stop left after a take-profit or liquidation stays
        with the exchange and, being reduce-only, can later trim a new position of the
        account on the same side. Assumed rare and accepted.
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: RetailConfig,
        n_assets: int,
        initial_deposit_usd: FloatArray | None = None,
        deposit_scales: FloatArray | None = None,
        leverage_scales: FloatArray | None = None,
    ) -> None:
        super().__init__(model, accounts, rng)
        weights = np.asarray(cfg.asset_weights, dtype=float)
        if len(weights) != n_assets or not weights.sum() > 0:
            raise ValueError(
                f"cfg.asset_weights needs {n_assets} weights summing to > 0, "
                f"got {cfg.asset_weights!r}"
            )
        n = len(self.account_ids)
        self.cfg = cfg
        self.home_assets: IntArray = rng.choice(n_assets, size=n, p=weights / weights.sum())
        shares = [getattr(cfg, f"{name}_leverage_share") for name in LEVERAGE_GROUPS[:-1]]
        self.leverage_groups: IntArray = np.searchsorted(
            np.cumsum(shares), rng.random(n), side="right"
        )
        self.has_high_leverage: BoolArray = self.leverage_groups == LEVERAGE_GROUPS.index("high")
        ranges = np.array([getattr(cfg, f"{name}_leverage") for name in LEVERAGE_GROUPS])
        self.leverages: FloatArray = rng.uniform(
            ranges[self.leverage_groups, 0], ranges[self.leverage_groups, 1]
        )
        if leverage_scales is not None:
            self.leverages = self.leverages * leverage_scales[self.home_assets]
        self.margin_fractions: FloatArray = np.where(
            self.has_high_leverage, cfg.high_leverage_fraction, cfg.position_fraction
        )
        self.side_quantiles: FloatArray = rng.random(n)
        self.has_stop: BoolArray = rng.random(n) < cfg.stop_loss_share
        self.is_isolated: BoolArray = rng.random(n) < cfg.isolated_share
        self.is_funding_aware: BoolArray = rng.random(n) < cfg.funding_aware_share
        self.initial_deposit_usd = (
            None if initial_deposit_usd is None else np.asarray(initial_deposit_usd, float)
        )
        if self.initial_deposit_usd is not None and deposit_scales is not None:
            self.initial_deposit_usd = self.initial_deposit_usd * deposit_scales[self.home_assets]
        self.deposit_requests: list[tuple[int, float]] = []
        self.is_open_at_start: BoolArray = rng.random(n) < cfg.open_at_start

    @property
    def is_long_biased(self) -> BoolArray:
        """Accounts that enter long when the 15-minute return is zero."""
        return self.side_quantiles < self.cfg.long_bias

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return this minute's entries, stops and take-profits; fill `deposit_requests`.

        Args:
            view: The market snapshot.
            accounts: Read-only account arrays (rows = account ids); never written.

        Returns:
            Market orders (entries, reduce-only take-profits) and reduce-only stop orders.
        """
        self.deposit_requests = []
        if self.initial_deposit_usd is None:
            self.initial_deposit_usd = np.array(accounts.equity_usd[self.account_ids])
        n = len(self.account_ids)
        orders = self._opening_stops(view, accounts) if view.t == 0 else []
        acting = _bernoulli_members(self.rng_stream, n, self.cfg.trade_prob)
        held = acting[self._positions(accounts, acting) != 0]
        entering = _bernoulli_members(self.rng_stream, n, self.cfg.entry_prob)
        flat = entering[self._positions(accounts, entering) == 0]
        orders += self._take_profits(view, accounts, held)
        orders += self._enter(view, accounts, flat)
        self._request_deposits(accounts)
        return orders

    def opening_positions(
        self, price_usd: FloatArray, max_leverage: FloatArray
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray, BoolArray]:
        """The positions the cohort holds at minute 0, sized as entries at the start price.

        Returns (account ids, assets, signed notional USD, leverage, isolated) of the members
        open at the start: side long iff side quantile < long_bias, leverage
        L = min(leverage, max_leverage[asset]), notional = deposit · f · L (f as in entries).
        """
        members = np.flatnonzero(self.is_open_at_start)
        assets = self.home_assets[members]
        leverages = np.minimum(self.leverages[members], max_leverage[assets])
        sides = np.where(self.side_quantiles[members] < self.cfg.long_bias, 1.0, -1.0)
        notional = self.initial_deposit_usd[members] * self.margin_fractions[members] * leverages
        return (
            self.account_ids[members],
            assets,
            sides * notional,
            leverages,
            self.is_isolated[members],
        )

    def _opening_stops(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        # the stops of the positions held from minute 0, at their entry prices
        members = np.flatnonzero(self.is_open_at_start & self.has_stop)
        qtys = self._positions(accounts, members)
        members, qtys = members[qtys != 0], qtys[qtys != 0]
        assets = self.home_assets[members]
        entries = accounts.entry_price_usd[self.account_ids[members], assets]
        # the leverage the position holds: a bracket may have capped the one chosen
        margins = self.initial_deposit_usd[members] * self.margin_fractions[members]
        leverages = np.abs(qtys) * entries / margins
        sides = np.sign(qtys).astype(int)
        triggers = stop_triggers(
            entries, leverages, sides, self.cfg.stop_loss, view.perp_tick[assets]
        )
        return [
            Order(acct, k, -side, abs(qty), OrderKind.STOP_MARKET, trigger, reduce_only=True)
            for acct, k, side, qty, trigger in zip(
                self.account_ids[members].tolist(),
                assets.tolist(),
                sides.tolist(),
                qtys.tolist(),
                triggers.tolist(),
                strict=True,
            )
        ]

    def _positions(self, accounts: AccountsView, members: IntArray) -> FloatArray:
        return accounts.qty[self.account_ids[members], self.home_assets[members]]

    def _enter(self, view: MarketView, accounts: AccountsView, members: IntArray) -> list[Intent]:
        assets = self.home_assets[members]
        p_long = np.clip(
            self.cfg.long_bias + self.cfg.momentum * np.nan_to_num(view.return_15m[assets]),
            0.0,
            1.0,
        )
        is_long = self.side_quantiles[members] < p_long
        skip = (
            is_long
            & self.is_funding_aware[members]
            & (view.funding_rate[assets] > FUNDING_AWARE_MAX_RATE)
        )
        members, assets, is_long = members[~skip], assets[~skip], is_long[~skip]
        leverages = np.minimum(self.leverages[members], view.max_leverage[assets])
        quotes_usd = np.where(is_long, view.perp_ask_usd[assets], view.perp_bid_usd[assets])
        # t = 0: books are empty in the snapshot; the makers' first ladders are posted
        # before any order runs, so size off the mark instead
        prices_usd = np.where(np.isfinite(quotes_usd), quotes_usd, view.mark_usd[assets])
        notionals_usd = (
            accounts.equity_usd[self.account_ids[members]]
            * self.margin_fractions[members]
            * leverages
        )
        with np.errstate(invalid="ignore"):  # NaN mark too -> skipped
            lots = np.floor(notionals_usd / prices_usd / view.perp_lot[assets] + _EPS)
            ok = lots >= 1
        members, assets, is_long, leverages = members[ok], assets[ok], is_long[ok], leverages[ok]
        qtys = lots[ok] * view.perp_lot[assets]
        sides = np.where(is_long, 1, -1)
        triggers = stop_triggers(
            prices_usd[ok], leverages, sides, self.cfg.stop_loss, view.perp_tick[assets]
        )
        return self._entry_orders(members, assets, sides, qtys, leverages, triggers)

    def _entry_orders(
        self,
        members: IntArray,
        assets: IntArray,
        sides: IntArray,
        qtys: FloatArray,
        leverages: FloatArray,
        triggers_usd: FloatArray,
    ) -> list[Intent]:
        orders: list[Intent] = []
        for acct, k, side, qty, lev, iso, has_stop, trigger in zip(
            self.account_ids[members].tolist(),
            assets.tolist(),
            sides.tolist(),
            qtys.tolist(),
            leverages.tolist(),
            self.is_isolated[members].tolist(),
            self.has_stop[members].tolist(),
            triggers_usd.tolist(),
            strict=True,
        ):
            orders.append(Order(acct, k, side, qty, leverage=lev, isolated=iso))
            if has_stop:
                orders.append(
                    Order(acct, k, -side, qty, OrderKind.STOP_MARKET, trigger, reduce_only=True)
                )
        return orders

    def _take_profits(
        self, view: MarketView, accounts: AccountsView, members: IntArray
    ) -> list[Intent]:
        ids, assets = self.account_ids[members], self.home_assets[members]
        qtys = accounts.qty[ids, assets]
        entries_usd = accounts.entry_price_usd[ids, assets]
        leverages = np.minimum(self.leverages[members], view.max_leverage[assets])
        gains_usd = qtys * (view.mark_usd[assets] - entries_usd)
        margins_usd = np.abs(qtys) * entries_usd / leverages
        win = gains_usd >= self.cfg.take_profit * margins_usd
        lots = np.round(np.abs(qtys[win]) / view.perp_lot[assets[win]])  # view qty is lots·lot
        sizes = (lots * view.perp_lot[assets[win]]).tolist()
        return [
            Order(acct, k, -side, qty, reduce_only=True)
            for acct, k, side, qty in zip(
                ids[win].tolist(),
                assets[win].tolist(),
                np.sign(qtys[win]).astype(int).tolist(),
                sizes,
                strict=True,
            )
        ]

    def _request_deposits(self, accounts: AccountsView) -> None:
        members = _bernoulli_members(self.rng_stream, len(self.account_ids), self.cfg.reentry_prob)
        deposits_usd = self.initial_deposit_usd[members]
        is_ruined = (self._positions(accounts, members) == 0) & (
            accounts.equity_usd[self.account_ids[members]] < RUIN_EQUITY_SHARE * deposits_usd
        )
        self.deposit_requests = list(
            zip(
                self.account_ids[members[is_ruined]].tolist(),
                deposits_usd[is_ruined].tolist(),
                strict=True,
            )
        )


def stop_triggers(
    entry_prices_usd: FloatArray,
    leverages: FloatArray,
    sides: IntArray,
    stop_loss: float,
    ticks_usd: FloatArray,
) -> FloatArray:
    """Return stop trigger prices where a position's loss reaches `stop_loss` × its margin.

    Args:
        entry_prices_usd: Expected entry price (the ask for a long, the bid for a short;
            the mark when that side is empty).
        leverages: Leverage L of each position.
        sides: +1 long, −1 short.
        stop_loss: Loss / margin that triggers the stop.
        ticks_usd: Tick size of each position's market.

    Returns:
        Triggers on the tick grid, USD.

    Notes:
        Margin = |q| · p / L, so the loss q · (p − trigger) equals stop_loss · margin at
        trigger = p · (1 − side · stop_loss / L). The exact trigger is rounded onto the grid
        toward the entry (up for a long's sell stop, down for a short's buy stop), so the
        stop fires no later than the target loss (the safe side for the trader), and kept at
        least one tick from the entry (loss side) and at least one tick above zero.
        A market order that walks the book fills worse than p, so the realised loss at the
        trigger is slightly larger; assumed negligible for retail sizes.
    """
    exact = entry_prices_usd * (1.0 - sides * stop_loss / leverages) / ticks_usd
    ticks = np.where(sides > 0, np.ceil(exact - _EPS), np.floor(exact + _EPS))
    entry_ticks = np.round(entry_prices_usd / ticks_usd)
    ticks = np.where(
        sides > 0, np.minimum(ticks, entry_ticks - 1), np.maximum(ticks, entry_ticks + 1)
    )
    return np.maximum(ticks, 1.0) * ticks_usd


def _bernoulli_members(rng: np.random.Generator, n: int, prob: float) -> IntArray:
    # same law as flatnonzero(rng.random(n) < prob), but O(hits): a Binomial count, then
    # numpy's Floyd sampling of that many distinct positions
    count = rng.binomial(n, prob)
    return np.sort(rng.choice(n, size=count, replace=False))
