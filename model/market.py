"""CascadeModel: the Mesa model that wires the world, the exchange agent and the traders.

Mesa is the scheduler and registry; the exchange engine is the only writer of money. One
step is one minute and runs the phases of DESIGN.md §2.2 in order (see `step`).
"""

from __future__ import annotations

import zlib
from typing import Any

import mesa
import numpy as np
from mesa.experimental.scenarios import Scenario as MesaScenario

from agents.market_maker import MarketMaker
from agents.retail import RetailCohort
from model.config import ModelConfig
from model.crowding import liquidatable_oi_share
from model.engine.exchange import Exchange
from model.engine.orders import OrderOutcome, Quotes
from model.engine.pricing import EwmVolatility, robust_index
from model.metrics_doc import summary_keys
from model.overrides import with_overrides
from model.population import build_traders, open_positions
from model.recorder import Recorder
from model.scenarios import scenario as named_scenario
from model.snapshots import long_oi_share
from model.summary import adl_summary, cascade_summary, retail_loss_share
from model.universe import perp_spec, spot_spec
from model.views import AccountsView, MarketView, accounts_view
from model.world import World

VOL_SPAN_MINUTES = 60
"""Span of the exponentially weighted volatility agents see (`vol_1h`): α = 2 / (span + 1),
the mean age (30 minutes) of a 60-minute window without the window's echo of a jump 60
minutes later (RiskMetrics-style EWMA, J.P. Morgan 1996; a boxcar put an |r| ACF spike of
0.25 at lag 60 in calm runs)."""


class ExchangeAgent(mesa.Agent):
    """The shared perpetual exchange as a Mesa agent: it matches, marks, liquidates, funds."""

    def __init__(self, model: mesa.Model, exchange: Exchange) -> None:
        super().__init__(model)
        self.exchange = exchange

    def match(self, intents: list, makers: set[int]) -> dict[int, OrderOutcome]:
        """Makers' own orders (hedges) first, then every ladder, then every other order in
        exchange-random order (a maker's hedge would otherwise hit its own fresh quotes).

        `makers` are the market makers' accounts; a ladder from anyone else (value investors)
        is posted with theirs, and its other orders wait in the random batch, so a limit order
        that crosses rests its remainder after the ladders are replaced. Returns each order's
        outcome by `id(order)`."""
        quotes = [i for i in intents if isinstance(i, Quotes)]
        orders = [i for i in intents if not isinstance(i, Quotes)]
        first = [o for o in orders if o.account in makers]
        outcomes = self.exchange.submit_many(first)
        for q in quotes:
            self.exchange.post_quotes(q)
        rest = [o for o in orders if o.account not in makers]
        outcomes += self.exchange.submit_many(rest)
        return {id(o): out for o, out in zip(first + rest, outcomes, strict=True)}

    def update_prices(self) -> None:
        """Index = robust median of this venue's best spot bid, best spot ask and last spot
        trade (the last trade clipped to the touch); then marks and stops.

        Binance's index is a weighted average over several venues' spot prices with a median
        fallback and a > 5 % rule (exchange-mechanics §2.4). Here spot is one venue, its makers
        quote toward the global price, and the index follows this venue's own book, so forced
        selling that reaches spot moves the marks (the cascade's feedback). A median with the
        previous minute's mid, as before, lagged the index a minute behind its book and made
        1-minute returns autocorrelated (ρ(1) ≈ 0.35 in calm runs).
        """
        ex = self.exchange
        touch = np.array([_best(b) for b in ex.spot_books])
        sources = np.column_stack([touch, ex.spot_last_usd])
        ex.update_index(robust_index(sources))
        ex.update_marks()
        ex.trigger_stops()

    def liquidate(self) -> None:
        self.exchange.liquidate()

    def fund(self) -> None:
        """Sample the premium every minute; settle at each market's interval."""
        self.exchange.sample_premium()
        self.exchange.settle_funding()

    def unwind(self) -> None:
        self.exchange.unwind_system_positions()


def _reporter_liquidated_usd(model: CascadeModel) -> float:
    s = model.recorder.series
    return float(
        np.nansum(s["liq_long_usd"][: model.recorder.n])
        + np.nansum(s["liq_short_usd"][: model.recorder.n])
    )


def _reporter_insurance_usd(model: CascadeModel) -> float:
    return float(sum(model.exchange.liquidator.pools.balances_usd()))


def _reporter_open_interest_usd(model: CascadeModel) -> float:
    n = model.recorder.n
    return float(model.recorder.series["oi_long_usd"][n - 1].sum()) if n else 0.0


def _reporter_mark(model: CascadeModel, k: int) -> float:
    return float(model.exchange.prices.mark_usd[k])


def _reporter_adl_events(model: CascadeModel) -> int:
    return model.exchange.events.count("adl")


def _reporter_final(model: CascadeModel, key: str) -> float:
    """A summary key at the final step (NaN before): what `mesa.batch_run` returns with its
    default `data_collection_period=-1`. The summary is computed once, at the last step."""
    if model.running:
        return float("nan")
    if model._final_summary is None:
        model._final_summary = model.summary()
    return float(model._final_summary[key])


class CascadeModel(mesa.Model):
    """A perpetual-futures market ecology hit by macro shocks.

    Args:
        scenario: A scenario name (calm, shock, oct-2025) or a `ModelConfig`.
        rng: Seed (int; a string of digits is accepted, as SolaraViz sends one).
        **overrides: Dotted parameter overrides, e.g. ``**{"retail.high_leverage_share": 0.4}``.
    """

    def __init__(
        self,
        *,
        scenario: str | ModelConfig = "shock",
        rng: int | str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(rng, str):
            rng = int(rng) if rng.strip() else None
        super().__init__(rng=rng)
        if isinstance(scenario, MesaScenario):
            # SolaraViz's Reset hands back Mesa's own `model.scenario` object under the same
            # keyword; it carries none of our settings, so the default scenario applies
            scenario = "shock"
        cfg = named_scenario(scenario) if isinstance(scenario, str) else scenario
        self.cfg = with_overrides(cfg, overrides) if overrides else cfg
        self.seed = int(rng) if rng is not None else int(self.rng.integers(2**62))
        self.t = 0
        self.stop_reason: str | None = None
        self.symbols = tuple(a.symbol for a in self.cfg.assets)
        self.world = World(self.cfg, self.stream("world"))
        self.exchange = self._build_exchange()
        self.exchange_agent = ExchangeAgent(self, self.exchange)
        self.traders = build_traders(self)
        self._maker_accounts = {t.account for t in self.traders if isinstance(t, MarketMaker)}
        self.opening_books = open_positions(self.exchange, self.cfg, self.traders)
        n_pools = len(self.exchange.liquidator.pools.accounts)
        self.initial_pools = np.array(self.exchange.liquidator.pools.balances_usd())
        self.recorder = Recorder(self.cfg.horizon_minutes, len(self.symbols), n_pools)
        self._index_history = np.full((self.cfg.horizon_minutes + 1, len(self.symbols)), np.nan)
        self._vol = EwmVolatility(len(self.symbols), VOL_SPAN_MINUTES)
        self._crowding = self._long_share = float("nan")
        self._retail_redeposits_usd = 0.0
        self._final_summary: dict[str, float] | None = None
        self.datacollector = mesa.DataCollector(model_reporters=self._reporters())

    # ------------------------------------------------------------------------- set-up
    def stream(self, name: str) -> np.random.Generator:
        """An independent random stream keyed by a stable name (DESIGN.md §6)."""
        seq = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))
        return np.random.default_rng(seq)

    def _build_exchange(self) -> Exchange:
        cfg = self.cfg
        return Exchange(
            [perp_spec(a, cfg.mark_rule, cfg.tier_scale) for a in cfg.assets],
            [a.price_usd for a in cfg.assets],
            [spot_spec(a) for a in cfg.assets],
            liquidation=cfg.liquidation,
            rng=self.stream("exchange"),
        )

    def _reporters(self) -> dict:
        reporters = {
            "liquidated_usd": _reporter_liquidated_usd,
            "insurance_usd": _reporter_insurance_usd,
            "open_interest_usd": _reporter_open_interest_usd,
            "adl_events": _reporter_adl_events,
        }
        for k, sym in enumerate(self.symbols):
            reporters[f"mark_{sym}"] = [_reporter_mark, [self, k]]
        for key in summary_keys(self.symbols):  # every key of `summary`, documented there
            if key not in reporters:
                reporters[key] = [_reporter_final, [self, key]]
        return reporters

    # --------------------------------------------------------------------------- step
    def step(self) -> None:
        """One minute: world → decisions → matching → prices → liquidation → funding → record."""
        ex, t = self.exchange, self.t
        ex.t = t
        fundamentals = self.world.step(t)
        view, accounts = self.snapshot(), accounts_view(ex, lazy=True)  # rows on demand
        intents = [i for trader in self.traders for i in trader.decide(view, accounts)]
        outcomes = self.exchange_agent.match(intents, self._maker_accounts)
        broken_usd = self._broken_hedge_sold_usd(outcomes)
        self._pay_deposit_requests()
        self.exchange_agent.update_prices()
        self.exchange_agent.liquidate()
        self.exchange_agent.fund()
        self.exchange_agent.unwind()
        self._index_history[t + 1] = ex.prices.index_usd
        self._vol.update(np.log(self._index_history[t + 1] / self._index_history[t]))
        if t == self._crowding_minute:
            self._crowding = liquidatable_oi_share(ex, 0.05)
            self._long_share = long_oi_share(ex, self.retail.account_ids)
        self.recorder.record(ex, fundamentals, broken_usd)
        self.t += 1
        if self.t >= self.cfg.horizon_minutes:
            self.running = False
            self.stop_reason = "horizon reached"
        self.datacollector.collect(self)

    def _broken_hedge_sold_usd(self, outcomes: dict) -> np.ndarray:
        """USD filled this minute per asset by orders answering a broken hedge (the second
        round: a basis trader's naked spot, a fund's alts): filled coins × average price."""
        sold = np.zeros(len(self.symbols))
        for trader in self.traders:
            for order in trader.broken_hedge_orders:
                out = outcomes.get(id(order))
                if out is not None and out.accepted and out.filled_qty > 0:
                    sold[order.market] += out.filled_qty * out.avg_price_usd
        return sold

    def _pay_deposit_requests(self) -> None:
        for trader in self.traders:
            for acct, usd in getattr(trader, "deposit_requests", ()):
                self.exchange.deposit(int(acct), float(usd))
                self._retail_redeposits_usd += float(usd)

    def snapshot(self) -> MarketView:
        """The frozen market view every agent decides from this minute."""
        ex, t = self.exchange, self.t
        if t == 0:
            self._index_history[0] = ex.prices.index_usd
        now = np.log(self._index_history[t])
        back = np.log(self._index_history[max(0, t - 15)])
        best = [_best(b) for b in ex.spot_books], [_best(b) for b in ex.perp_books]
        return MarketView(
            t=t,
            symbols=self.symbols,
            fundamental_usd=self.world.fundamental_usd,
            index_usd=ex.prices.index_usd.copy(),
            mark_usd=ex.prices.mark_usd.copy(),
            spot_bid_usd=np.array([b[0] for b in best[0]]),
            spot_ask_usd=np.array([b[1] for b in best[0]]),
            perp_bid_usd=np.array([b[0] for b in best[1]]),
            perp_ask_usd=np.array([b[1] for b in best[1]]),
            funding_rate=ex.prices.funding_rate.copy(),
            premium=ex.prices.premium.copy(),
            return_15m=now - back,
            vol_1h=self._vol.std,
            risk_off=self.world.risk_off(t),
            exo_sell_usd=self.world.exo_sell_usd(t),
            perp_tick=np.array([s.tick_size for s in ex.perps]),
            perp_lot=ex.perp_lot_sizes.copy(),
            spot_tick=np.array([s.tick_size for s in ex.spots]),
            spot_lot=ex.spot_lot_sizes.copy(),
            max_leverage=np.array([s.tiers.max_leverage[0] for s in ex.perps]),
        )

    def accounts_view(self) -> AccountsView:
        """Read-only views of every account's arrays, in coins and USD."""
        return accounts_view(self.exchange)

    # ------------------------------------------------------------------------ results
    @property
    def shock_start(self) -> int:
        """Minute of the first shock (0 when the scenario has none)."""
        return min((s.start_minute for s in self.cfg.shocks), default=0)

    def summary(self) -> dict[str, float]:
        """Cascade metrics of the run so far as a flat dict (each key's unit and meaning:
        model/metrics_doc.py, docs/metrics.md)."""
        n = self.recorder.n
        series = {k: v[:n] for k, v in self.recorder.series.items()}
        ev = self.exchange.events.rows
        out = cascade_summary(
            series,
            self.symbols,
            min(self.shock_start, max(n - 1, 0)),
            self.recorder.pool_usd[:n],
            self.initial_pools,
        )
        out.update(adl_summary(ev["adl"], ev["haircut"], ev["bad_debt"]))
        out["liquidatable_oi_within_5pct"] = self._pre_shock_crowding
        out["long_oi_share_pre_shock"] = float(self._long_share)
        out["retail_liquidated_share"] = self._retail_liquidated_share()
        out["minutes"] = n
        return out

    def _retail_liquidated_share(self) -> float:
        """Margin of retail positions lost to liquidation / retail money deposited.

        Margin of a liquidated slice = its notional / the account's leverage setting.
        """
        is_retail = np.zeros(self.exchange.accounts.n, dtype=bool)
        is_retail[self.retail.account_ids] = True
        rows = [r for r in self.exchange.events.rows["liquidation"] if is_retail[r.account]]
        notional = np.array([r.notional_usd for r in rows], dtype=float)
        lev = self.exchange.accounts.leverage[[r.account for r in rows], [r.market for r in rows]]
        return retail_loss_share(notional, lev, self.retail_deposited_usd)

    @property
    def retail(self) -> RetailCohort:
        """The retail cohort (the crowd of leveraged accounts)."""
        return next(t for t in self.traders if isinstance(t, RetailCohort))

    @property
    def retail_deposited_usd(self) -> float:
        """Retail money deposited: initial deposits plus re-deposits after ruin, USD."""
        return float(self.retail.initial_deposit_usd.sum()) + self._retail_redeposits_usd

    @property
    def _pre_shock_crowding(self) -> float:
        return float(self._crowding)

    @property
    def _crowding_minute(self) -> int:
        """The minute just before the first shock (mid-run when there is none)."""
        if self.cfg.shocks:
            return max(0, self.shock_start - 1)
        return self.cfg.horizon_minutes // 2

    def run(self) -> dict[str, float]:
        """Run to the horizon and return the summary."""
        while self.running:
            self.step()
        return self.summary()


def _best(book) -> tuple[float, float]:
    bid, ask = book.best_bid(), book.best_ask()
    tick = book.tick_size
    return (bid * tick if bid is not None else np.nan, ask * tick if ask is not None else np.nan)
