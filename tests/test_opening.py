"""The opening open-interest book (model/opening.py): the lot arithmetic by hand, then the book a
real `CascadeModel` starts with (300 accounts, 30 minutes, the shock at minute 10).
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.basis import BasisTrader
from agents.market_maker import MarketMaker
from agents.neutral import MarketNeutralFund
from agents.retail import stop_triggers
from model import CascadeModel
from model.engine.margin import maintenance_margin
from model.engine.orders import Order
from model.engine.tiers import BTCUSDT_2025, SMALL_CAP_50X
from model.engine.types import OrderKind
from model.opening import (
    BASIS_HEADROOM,
    MarketBook,
    capped_leverage,
    hedged_split,
    lots_for,
    margin_leverage,
    split_lots,
)
from model.views import accounts_view

SMALL = {"retail.n_accounts": 300, "horizon_minutes": 30, "shocks.0.start_minute": 10}


# ---------------------------------------------------------------------------------------------
# pure arithmetic
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "parts", "want"),
    [
        (-7, 3, [-3, -2, -2]),  # the docstring example: 7 = 3 + 2 + 2, the first gets the extra
        (7, 3, [3, 2, 2]),
        (2, 5, [1, 1, 0, 0, 0]),  # fewer lots than holders: the first two get one each
        (0, 2, [0, 0]),
        (9, 3, [3, 3, 3]),
        (5, 0, []),  # nobody to hold them
    ],
)
def test_split_lots_spreads_evenly_and_sums_to_the_total(total, parts, want):
    got = split_lots(total, parts)
    assert got.tolist() == want
    assert got.dtype == np.int64
    if parts:
        assert int(got.sum()) == total


def test_hedged_split_basis_traders_take_their_share_of_a_long_crowd():
    # net +100 lots long: basis round(0.6 · 100) = 60 short over 3 → −20 each; makers the
    # other 40 over 2 → −20 each; together −100
    basis, makers = hedged_split(100, 0.6, 3, 2)
    assert basis.tolist() == [-20, -20, -20] and makers.tolist() == [-20, -20]


def test_hedged_split_rounds_the_basis_share_and_makers_take_the_rest():
    # net +7: round(0.6 · 7) = round(4.2) = 4 → basis [−2, −1, −1]; makers −3 → [−2, −1]
    basis, makers = hedged_split(7, 0.6, 3, 2)
    assert basis.tolist() == [-2, -1, -1] and makers.tolist() == [-2, -1]


def test_hedged_split_a_short_crowd_is_held_by_makers_only():
    # net −50 (the others are net short): basis traders hold no longs; makers +25 each
    basis, makers = hedged_split(-50, 0.6, 3, 2)
    assert basis.tolist() == [0, 0, 0] and makers.tolist() == [25, 25]


@pytest.mark.parametrize(
    ("net", "share", "n_basis", "n_makers"),
    [(100, 0.6, 3, 2), (7, 0.6, 3, 2), (-50, 0.6, 3, 2), (13, 1.0, 2, 1), (13, 0.0, 2, 3),
     (10, 0.6, 3, 0), (7, 0.5, 0, 2), (0, 0.6, 3, 2)],
)  # fmt: skip
def test_hedged_split_sums_to_minus_net_and_basis_only_short(net, share, n_basis, n_makers):
    basis, makers = hedged_split(net, share, n_basis, n_makers)
    assert (len(basis), len(makers)) == (n_basis, n_makers)
    assert int(basis.sum() + makers.sum()) == -net
    assert np.all(basis <= 0), "basis traders only hold shorts"


def test_hedged_split_without_makers_gives_the_basis_traders_all_of_a_long_crowd():
    # no makers: the basis traders hold the whole hedge, 10 = 4 + 3 + 3
    basis, makers = hedged_split(10, 0.6, 3, 0)
    assert basis.tolist() == [-4, -3, -3] and makers.tolist() == []


HOLDERS = (
    r"the opening book's net position needs holders: makers \(makers\.n_makers\) take "
    r"either side, basis traders \(basis\.n_traders\) only a short; got "
)


def test_regression_hedged_split_without_makers_never_makes_basis_traders_long():
    # no makers and a net short crowd (−10): the hedge would be +10 long, +4, +3, +3 over the
    # basis traders, although basis traders only hold shorts
    with pytest.raises(ValueError, match=HOLDERS + "0 makers, 3 basis traders and a net of -10"):
        hedged_split(-10, 0.6, 3, 0)


def test_hedged_split_needs_a_holder():
    with pytest.raises(ValueError, match=HOLDERS + "0 makers, 0 basis traders and a net of 10"):
        hedged_split(10, 0.6, 0, 0)


def test_margin_leverage_docstring_example():
    # small-cap 50x table: margin 1,000 at 50x = 50k notional, bracket 25–100k caps it at
    # 10x → 10k notional, bracket 5–25k allows 20x → 10x stays
    assert margin_leverage(np.array([1_000.0]), np.array([50.0]), SMALL_CAP_50X).tolist() == [10.0]


def test_margin_leverage_vectorised_and_inside_every_bracket():
    # 50 at 50x = 2,500 (< 5k, 50x bracket): stays; 100 at 50x = 5,000 (the 20x bracket
    # starts there) → 20x = 2,000 (50x bracket) → 20x stays; 3 at 5x = 15: stays
    margin = np.array([1_000.0, 50.0, 100.0, 3.0])
    got = margin_leverage(margin, np.array([50.0, 50.0, 50.0, 5.0]), SMALL_CAP_50X)
    np.testing.assert_array_equal(got, [10.0, 50.0, 20.0, 5.0])
    assert np.all(got <= SMALL_CAP_50X.max_leverage_at(margin * got))


def test_capped_leverage_clips_to_the_bracket_of_the_notional():
    # BTCUSDT 2025: 150x to 300k, 100x to 800k, …, 1x from 1.2B
    got = capped_leverage(np.array([150.0, 150.0, 20.0]), np.array([1e5, 4e5, 5e9]), BTCUSDT_2025)
    np.testing.assert_array_equal(got, [150.0, 100.0, 1.0])


def test_lots_for_floors_to_whole_lots_with_float_slack():
    # 60,000 USD / 100,000 / 0.001 = 600 lots; a cent less is 599.9999 → 599;
    # 0.3 / 1 / 0.1 = 2.9999999999999996 → 3 with the 1e-9 slack
    assert lots_for(np.array([59_999.99, 60_000.0]), 100_000.0, 0.001).tolist() == [599, 600]
    assert int(lots_for(0.3, 1.0, 0.1)) == 3


def test_market_book_broadcasts_scalars_and_keeps_zero_lots_out():
    book = MarketBook()
    book.add(np.array([5, 6, 7]), np.array([3, 0, -1]), np.array([10.0, 20.0, 30.0]), True)
    book.add(9, -2, 5.0, False)
    assert book.accounts == [5, 7, 9] and book.lots == [3, -1, -2]
    assert book.leverage == [10.0, 30.0, 5.0] and book.isolated == [True, True, False]
    assert book.net_lots == 0


# ---------------------------------------------------------------------------------------------
# the book a model starts with
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model() -> CascadeModel:
    """A shock run's model before its first step (300 accounts)."""
    return CascadeModel(scenario="shock", rng=3, **SMALL)


def _of(model: CascadeModel, cls: type) -> list:
    return [t for t in model.traders if isinstance(t, cls)]


def test_net_open_interest_is_zero_in_every_market_and_the_book_is_not_empty(model):
    ex = model.exchange
    assert ex.accounts.qty_lots.sum(axis=0).tolist() == [0] * len(model.symbols)
    assert np.all(ex.long_lots > 0), "every market opens with open interest"
    events = ex.events.rows["opening"]
    assert [row[1] for row in events] == list(range(len(model.symbols)))  # one per market
    for t, k, n_accounts, long_lots, price in events:
        lots = ex.accounts.qty_lots[:, k]
        assert t == 0 and price == model.cfg.assets[k].price_usd
        assert (n_accounts, long_lots) == (np.count_nonzero(lots), lots[lots > 0].sum())


def test_every_retail_account_in_the_book_holds_its_side_and_leverage(model):
    ex, retail = model.exchange, model.retail
    prices = np.array([a.price_usd for a in model.cfg.assets])
    max_lev = np.array([s.tiers.max_leverage[0] for s in ex.perps])
    ids, assets, signed_usd, lev, iso = retail.opening_positions(prices, max_lev)
    lots = ex.accounts.qty_lots[ids, assets]
    held = lots != 0
    assert held.mean() > 0.9, "almost every opening account affords a lot"
    # the side it chose, its margin mode, and its leverage unless its bracket caps it
    np.testing.assert_array_equal(np.sign(lots[held]), np.sign(signed_usd[held]))
    np.testing.assert_array_equal(ex.accounts.is_isolated[ids, assets][held], iso[held])
    setting = ex.accounts.leverage[ids, assets][held]
    notional = np.abs(lots[held]) * ex.perp_lot_sizes[assets[held]] * prices[assets[held]]
    assert np.all(setting <= lev[held])
    for k in np.unique(assets[held]):
        mine = assets[held] == k
        assert np.all(setting[mine] <= ex.perps[k].tiers.max_leverage_at(notional[mine]))
    uncapped = setting == lev[held]
    assert uncapped.mean() > 0.9
    # an uncapped position is its target notional, short of it by less than one lot
    lot_usd = ex.perp_lot_sizes[assets[held]] * prices[assets[held]]
    gap = np.abs(signed_usd[held]) - notional
    assert np.all((gap[uncapped] >= -1e-6) & (gap[uncapped] < lot_usd[uncapped] + 1e-6))
    # isolated margin = notional / leverage, moved out of the wallet
    isolated = iso[held]
    margin = ex.accounts.isolated_margin_usd[ids[held], assets[held]]
    np.testing.assert_allclose(margin[isolated], (notional / setting)[isolated])
    # nothing in any other market, and the accounts not open at the start are flat
    others = np.ones(ex.accounts.qty_lots[ids].shape, dtype=bool)
    others[np.arange(len(ids)), assets] = False
    assert not ex.accounts.qty_lots[ids][others].any()
    closed = retail.account_ids[~retail.is_open_at_start]
    assert not ex.accounts.qty_lots[closed].any()


def test_hedged_books_hold_spot_coins_against_their_shorts(model):
    ex = model.exchange
    assert ex.perp_lot_sizes.tolist() == ex.spot_lot_sizes.tolist()  # lots are coins alike
    for trader in _of(model, BasisTrader):
        qty, spot = ex.accounts.qty_lots[trader.account], ex.accounts.spot_lots[trader.account]
        assert np.all(qty <= 0), "basis traders only hold shorts"
        np.testing.assert_array_equal(spot, -qty)  # one coin bought per coin shorted
        assert qty.sum() < 0
    for maker in _of(model, MarketMaker):
        qty, spot = ex.accounts.qty_lots[maker.account], ex.accounts.spot_lots[maker.account]
        # its own coins (3 depths over 2 makers = 1.5 depths: 30 BTC = 300,000 lots of BTC)
        # plus one coin per coin shorted
        own = np.array(
            [
                np.floor(1.5 * a.depth_usd / a.price_usd / s.lot_size)
                for a, s in zip(model.cfg.assets, ex.spots, strict=True)
            ]
        )
        assert own[0] == 300_000
        np.testing.assert_array_equal(spot, own + np.maximum(-qty, 0))


def test_basis_share_of_the_hedged_side(model):
    ex, cfg = model.exchange, model.cfg
    basis = [t.account for t in _of(model, BasisTrader)]
    makers = [t.account for t in _of(model, MarketMaker)]
    for k in range(len(ex.perps)):
        to_basis = -ex.accounts.qty_lots[basis, k].sum()
        to_makers = -ex.accounts.qty_lots[makers, k].sum()
        net = to_basis + to_makers  # what the others hold, net
        if net > 0:  # a long crowd: basis traders hold round(0.6 · net) of the short side
            assert to_basis == round(cfg.basis.oi_share * net)
        else:
            assert to_basis == 0


def test_hedged_books_are_paid_twice_the_margin_of_their_opening_positions(model):
    # on top of its own capital, each basis trader and maker gets 2 × Σ over markets of
    # (notional / leverage + maintenance margin) of its opening positions: its spot coins are
    # no perp collateral
    ex, cfg = model.exchange, model.cfg
    prices = np.array([a.price_usd for a in cfg.assets])
    holders = [(t.account, cfg.basis.capital_usd) for t in _of(model, BasisTrader)]
    holders += [(t.account, cfg.makers.capital_usd) for t in _of(model, MarketMaker)]
    for acct, capital in holders:
        notional = np.abs(ex.accounts.qty_lots[acct]) * ex.perp_lot_sizes * prices
        need = sum(
            n / ex.accounts.leverage[acct, k] + maintenance_margin(n, s.tiers)
            for k, (n, s) in enumerate(zip(notional, ex.perps, strict=True))
            if n > 0
        )
        extra = ex.accounts.collateral_usd[acct] - capital
        assert need > 0 and extra == pytest.approx(BASIS_HEADROOM * need, rel=1e-9)


def test_funds_hold_their_leg_targets_from_minute_zero(model):
    ex = model.exchange
    prices = np.array([a.price_usd for a in model.cfg.assets])
    for fund in _of(model, MarketNeutralFund):
        targets = fund.opening_targets(model.cfg.funds.capital_usd)
        held_usd = ex.accounts.qty_lots[fund.account] * ex.perp_lot_sizes * prices
        # the target rounded down to whole lots, toward zero
        assert np.all(np.abs(held_usd) <= np.abs(targets) + 1e-6)
        assert np.all(np.abs(targets) - np.abs(held_usd) < ex.perp_lot_sizes * prices + 1e-6)
        assert np.all(~ex.accounts.is_isolated[fund.account])


def test_makers_start_with_zero_inventory_and_send_no_hedge():
    model = CascadeModel(scenario="shock", rng=3, **SMALL)
    view, accounts = model.snapshot(), accounts_view(model.exchange)
    for maker in _of(model, MarketMaker):
        assert np.any(accounts.qty[maker.account] != 0), "the maker holds part of the book"
        intents = maker.decide(view, accounts)
        np.testing.assert_array_equal(maker.inventory_qty(accounts), 0.0)
        assert not [i for i in intents if isinstance(i, Order)], "flat: no hedge"


def test_invariants_hold_after_the_opening_and_through_the_run():
    model = CascadeModel(scenario="shock", rng=3, **SMALL)
    model.exchange.check_invariants()
    while model.running:
        model.step()
        model.exchange.check_invariants()
    assert model.t == 30


# ---------------------------------------------------------------------------------------------
# the opening stops when a bracket caps an opening position's leverage
# ---------------------------------------------------------------------------------------------
CAPPED = {**SMALL, "tier_scale": 1.0, "retail.stop_loss_share": 1.0}
"""Real-size brackets with 300 accounts (each deposit 10,000 / 300 ≈ 33× the reference): many
opening positions sit in brackets below their chosen leverage; every account has a stop."""


def _opening_stops(model: CascadeModel) -> list[Order]:
    view, accounts = model.snapshot(), accounts_view(model.exchange)
    return [o for o in model.retail.decide(view, accounts) if o.kind == OrderKind.STOP_MARKET]


def test_some_opening_positions_with_stops_are_capped_by_their_bracket():
    # the precondition of the regression test below: it is not vacuous
    model = CascadeModel(scenario="shock", rng=3, **CAPPED)
    retail, acc = model.retail, model.exchange.accounts
    stops = _opening_stops(model)
    chosen = {
        int(a): min(lev, model.exchange.perps[k].tiers.max_leverage[0])
        for a, lev, k in zip(retail.account_ids, retail.leverages, retail.home_assets, strict=True)
    }
    capped = [o for o in stops if acc.leverage[o.account, o.market] < chosen[o.account]]
    assert len(stops) > 100 and len(capped) > 10


@pytest.mark.xfail(
    strict=True,
    reason="source bug: RetailCohort._opening_stops now takes the held leverage as "
    "|qty| · entry / (deposit · f), the notional after the floor to whole lots over the "
    "margin the book was sized from, not the leverage the book set (margin_leverage, before "
    "the floor): it is slightly lower, so about 1 in 10 triggers sits one tick past "
    "stop_loss × margin",
)
def test_regression_opening_stops_use_the_leverage_the_position_holds():
    # e.g. a TAILA long at entry 1.0 chosen at 3.05x, capped to 1x by its bracket, stop_loss
    # 0.5: the trigger should be 1 · (1 − 0.5 / 1) = 0.5; it was placed at 1 · (1 − 0.5 / 3.05).
    # Still off (rng=3): a BTC long at 100,000 set at 1.9193900x should trigger at
    # 100,000 · (1 − 0.5 / 1.9193900) = 73,950.06 → up to the 1.0 tick = 73,951; floored lots
    # give 1.9193855x → 73,949.995 → 73,950, a loss past stop_loss × margin
    model = CascadeModel(scenario="shock", rng=3, **CAPPED)
    ex = model.exchange
    for o in _opening_stops(model):
        k, acct = o.market, o.account
        want = stop_triggers(
            np.array([ex.accounts.entry_price_usd[acct, k]]),
            np.array([ex.accounts.leverage[acct, k]]),
            np.array([-o.side]),
            model.cfg.retail.stop_loss,
            np.array([ex.perps[k].tick_size]),
        )[0]
        assert o.price_usd == pytest.approx(want, rel=1e-12)
