"""Margin math: golden vectors (exchange-mechanics.md §9), cross-margin cases, properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.engine.margin import (
    bankruptcy_price,
    bankruptcy_price_at_mark,
    equity_usd,
    initial_margin_usd,
    liquidation_price,
    liquidation_price_tiered,
    maintenance_margin,
    margin_ratio,
    notional_usd,
    unrealized_pnl_usd,
    worst_close_price,
)
from model.engine.tiers import BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X, TierTable

TABLES = (BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X)


def residual_usd(
    lp, *, side, qty, entry_price, wallet_balance, tiers, other_maintenance=0.0, other_upnl=0.0
):
    """Equity minus total maintenance margin at price lp (zero at the liquidation price)."""
    equity = equity_usd(
        wallet_balance + other_upnl, unrealized_pnl_usd(side * qty, entry_price, lp)
    )
    return equity - other_maintenance - maintenance_margin(notional_usd(qty, lp), tiers)


# --- basic identities -----------------------------------------------------------------------


def test_basic_identities() -> None:
    assert notional_usd(-2.0, 100.0) == 200.0  # |−2|·100
    assert unrealized_pnl_usd(-2.0, 100.0, 90.0) == 20.0  # −2·(90 − 100)
    assert unrealized_pnl_usd(3.0, 100.0, 90.0) == -30.0  # 3·(90 − 100)
    assert equity_usd(1_000.0, -30.0) == 970.0
    assert initial_margin_usd(20_000.0, 50.0) == 400.0  # X3: IM 2% of 20,000


def test_margin_ratio() -> None:
    # 100/200 = 0.5; equity 0 or negative -> inf (at/past bankruptcy)
    np.testing.assert_array_equal(
        margin_ratio(100.0, [200.0, 100.0, 0.0, -5.0]), [0.5, 1, np.inf, np.inf]
    )
    assert margin_ratio(0.0, 50.0) == 0.0


def test_initial_margin_rejects_bad_leverage() -> None:
    with pytest.raises(ValueError, match="leverage"):
        initial_margin_usd(1_000.0, [10.0, 0.0])


# --- maintenance margin: TV-B2, TV-H1 ---------------------------------------------------------


def test_tv_b2_maintenance_margin() -> None:
    # N = 500,000 on Table A: MMR 1%, cum 1,300 -> 500,000·1% − 1,300 = 3,700
    assert maintenance_margin(500_000.0, BTCUSDT_2021) == pytest.approx(3_700.0, abs=1e-9)


def test_tv_b2_continuity_at_250k() -> None:
    # 250,000·0.5% − 50 = 1,200 (bracket below) and 250,000·1% − 1,300 = 1,200 (bracket at floor)
    below = np.nextafter(250_000.0, 0.0)
    assert maintenance_margin(below, BTCUSDT_2021) == pytest.approx(1_200.0, abs=1e-6)
    assert maintenance_margin(250_000.0, BTCUSDT_2021) == pytest.approx(1_200.0, abs=1e-9)


@pytest.mark.parametrize("tiers", TABLES)
def test_maintenance_margin_continuous_at_every_floor(tiers: TierTable) -> None:
    f = tiers.floors[1:]
    left = f * tiers.mmr_arr[:-1] - tiers.cum_usd[:-1]  # line of the bracket below
    np.testing.assert_allclose(maintenance_margin(f, tiers), left, rtol=1e-12)


def test_tv_h1_hyperliquid_tiered_mm() -> None:
    # HL BTC: 200M·2.5% − 1.875M = 3.125M; at 150M: 150M·1.25% = 1.875M = 150M·2.5% − 1.875M
    hl_btc = TierTable(floors_usd=(0, 150e6), mmr=(0.0125, 0.025), max_leverage=(40, 20))
    np.testing.assert_allclose(maintenance_margin([200e6, 150e6], hl_btc), [3.125e6, 1.875e6])


# --- Binance liquidation price: TV-B3, TV-B5 ----------------------------------------------------


def test_tv_b3_isolated_btc() -> None:
    # (1,535,443.01 + 16,300 − 109.488·32,481.98) / (109.488·2.5% − 109.488)
    # = (1,551,743.01 − 3,556,387.02624) / (−106.7508) = 18,778.73
    lp = liquidation_price(
        side=1,
        qty=109.488,
        entry_price=32_481.98,
        wallet_balance=1_535_443.01,
        mmr=0.025,
        maintenance_amount=16_300.0,
    )
    assert lp == pytest.approx(18_778.73, abs=0.01)


def test_tv_b3_tiered_is_self_consistent_on_table_a() -> None:
    # Entry notional 3.556M and LP notional 109.488·18,778.73 = 2.056M both in 1M–10M (2.5%, 16,300)
    lp = liquidation_price_tiered(
        side=1, qty=109.488, entry_price=32_481.98, wallet_balance=1_535_443.01, tiers=BTCUSDT_2021
    )
    assert lp == pytest.approx(18_778.73, abs=0.01)
    assert BTCUSDT_2021.bracket(109.488 * lp) == 3


def test_tv_b5_isolated_eth() -> None:
    # (1,535,443.01 + 135,365 − 3,683.979·1,456.84) / (3,683.979·10% − 3,683.979)
    # = (1,670,808.01 − 5,366,967.96636) / (−3,315.5811) = 1,114.78
    lp = liquidation_price(
        side=1,
        qty=3_683.979,
        entry_price=1_456.84,
        wallet_balance=1_535_443.01,
        mmr=0.10,
        maintenance_amount=135_365.0,
    )
    assert lp == pytest.approx(1_114.78, abs=0.01)


# --- BitMEX TV-X3: which convention gives which number -----------------------------------------


def test_tv_x3_binance_convention_mm_on_liquidation_notional() -> None:
    # Binance: MM = 1% of the notional AT the liquidation price:
    # (10,000 − 20·1,000) / (20·1% − 20) = −10,000 / −19.8 = 505.05
    lp = liquidation_price(side=1, qty=20.0, entry_price=1_000.0, wallet_balance=10_000.0, mmr=0.01)
    assert lp == pytest.approx(505.05, abs=0.01)


def test_tv_x3_bitmex_convention_mm_fixed_on_entry_value() -> None:
    # BitMEX: MM = 1% of ENTRY value = 200 USD, constant. With mmr = 0 the MM is N·0 − cum, so
    # cum = −200 gives MM = +200: (10,000 + (−200) − 20,000) / (0 − 20) = −10,200 / −20 = 510.
    lp = liquidation_price(
        side=1,
        qty=20.0,
        entry_price=1_000.0,
        wallet_balance=10_000.0,
        mmr=0.0,
        maintenance_amount=-200.0,
    )
    assert lp == pytest.approx(510.0, abs=1e-9)
    # Same constant 200 as "other maintenance": (10,000 − 200 − 20,000) / (−20) = 510.
    lp2 = liquidation_price(
        side=1,
        qty=20.0,
        entry_price=1_000.0,
        wallet_balance=10_000.0,
        mmr=0.0,
        other_maintenance=200.0,
    )
    assert lp2 == pytest.approx(510.0, abs=1e-9)


def test_tv_x3_bankruptcy() -> None:
    # Equity 10,000 + 20·(P − 1,000) = 0 -> P = 1,000 − 10,000/20 = 500
    assert bankruptcy_price(side=1, qty=20.0, entry_price=1_000.0, wallet_balance=10_000.0) == 500.0


# --- Hyperliquid TV-H2 -----------------------------------------------------------------------


def test_tv_h2_hyperliquid_isolated() -> None:
    # l = 1/80 = 1.25% (half the 40x IMR). Long: (100,000 − 10·100,000)/(10·1.25% − 10)
    # = −900,000/−9.875 = 91,139.24. Short: (100,000 + 1,000,000)/(0.125 + 10) = 108,641.98
    lp = liquidation_price(
        side=np.array([1, -1]),
        qty=10.0,
        entry_price=100_000.0,
        wallet_balance=100_000.0,
        mmr=0.0125,
    )
    np.testing.assert_allclose(lp, [91_139.24, 108_641.98], atol=0.01)
    # Equity there = 100,000 + 10·(91,139.24 − 100,000) = 11,392.41 = 1.25%·911,392.4
    assert 100_000.0 + 10.0 * (lp[0] - 100_000.0) == pytest.approx(0.0125 * 10.0 * lp[0])


def test_hyperliquid_mark_form_equals_entry_form() -> None:
    # HL: liq = mark − s·(equity − MM)/Q/(1 − s·l) at any mark. Mark 95,000: equity
    # = 100,000 + 10·(−5,000) = 50,000; MM = 950,000·1.25% = 11,875; margin_available = 38,125
    # -> 95,000 − 3,812.5/0.9875 = 91,139.24, same as the entry-price form above.
    mark, mm_rate = 95_000.0, 0.0125
    available = 100_000.0 + 10.0 * (mark - 100_000.0) - 10.0 * mark * mm_rate
    hl = mark - available / 10.0 / (1.0 - mm_rate)
    lp = liquidation_price(
        side=1, qty=10.0, entry_price=100_000.0, wallet_balance=100_000.0, mmr=mm_rate
    )
    assert lp == pytest.approx(hl, rel=1e-12)


# --- dYdX TV-D1, TV-D2 -----------------------------------------------------------------------


def test_tv_d1_dydx_isolated_short() -> None:
    # dYdX p' = (e − s·p)/(|s|·MMF − s) with signed s = −3, e = 1,000, p = 3,000:
    # (1,000 + 9,000)/(0.15 + 3) = 3,174.60. Mapping: wallet = e (equity at p), entry = p,
    # so equity(P) = e + s·(P − p), exactly dYdX's Q_usdc + s·P.
    lp = liquidation_price(side=-1, qty=3.0, entry_price=3_000.0, wallet_balance=1_000.0, mmr=0.05)
    assert lp == pytest.approx(3_174.60, abs=0.01)
    # Equity there 1,000 − 3·174.60 = 476.19 = 5%·3·3,174.60
    assert 1_000.0 - 3.0 * (lp - 3_000.0) == pytest.approx(0.05 * 3.0 * lp)


@pytest.mark.parametrize(("wallet", "other_upnl"), [(1_000.0, 0.0), (750.0, 250.0)])
def test_tv_d2_dydx_cross_with_other_position(wallet: float, other_upnl: float) -> None:
    # dYdX cross p' = (e − s·p − MMR_o)/(|s|·MMF − s), s = −1.5 ETH, p = 3,000, MMR_o = 175
    # (1,000 STRK·1.75·10%): (1,000 + 4,500 − 175)/(0.075 + 1.5) = 5,325/1.575 = 3,380.95.
    # Mapping: e already includes the STRK leg (held at 1.75), so WB + UPNL1 = e = 1,000 and
    # TMM1 = 175. Only the sum WB + UPNL1 matters: e.g. STRK bought at 1.50 -> UPNL1 = 250,
    # WB = 750 gives the same price.
    lp = liquidation_price(
        side=-1,
        qty=1.5,
        entry_price=3_000.0,
        wallet_balance=wallet,
        mmr=0.05,
        other_maintenance=175.0,
        other_upnl=other_upnl,
    )
    assert lp == pytest.approx(3_380.95, abs=0.01)


# --- cross-margin cases derived by hand -------------------------------------------------------


def test_cross_long_with_losing_other_position() -> None:
    # Wallet 20,000; long 1 BTC @ 60,000 (Table B, bracket 0: 0.4%, cum 0); other legs: UPnL
    # −1,500, MM 300. Equity(P) = 20,000 − 1,500 + (P − 60,000) = P − 41,500;
    # MM(P) = 300 + 0.004·P -> 0.996·P = 41,800 -> P = 41,967.87 (notional 41,968: bracket 0).
    kw = {
        "side": 1,
        "qty": 1.0,
        "entry_price": 60_000.0,
        "wallet_balance": 20_000.0,
        "other_maintenance": 300.0,
        "other_upnl": -1_500.0,
    }
    lp = liquidation_price_tiered(tiers=BTCUSDT_2025, **kw)
    assert lp == pytest.approx(41_967.87, abs=0.01)
    assert liquidation_price(mmr=0.004, **kw) == pytest.approx(lp, rel=1e-12)
    assert residual_usd(lp, tiers=BTCUSDT_2025, **kw) == pytest.approx(0.0, abs=1e-7)


def test_cross_two_positions_built_from_helpers() -> None:
    # Wallet 10,000 shared by: long 2 BTC @ 50,000 and short 50 ETH @ 3,000 marked 3,100
    # (both on Table B for simplicity). ETH leg: UPnL −50·100 = −5,000; MM 155,000·0.4% = 620.
    # BTC LP = (10,000 − 620 − 5,000 − 2·50,000)/(2·0.4% − 2) = −95,620/−1.992 = 48,002.01
    eth_upnl = unrealized_pnl_usd(-50.0, 3_000.0, 3_100.0)
    eth_mm = maintenance_margin(notional_usd(-50.0, 3_100.0), BTCUSDT_2025)
    assert eth_upnl == -5_000.0
    assert eth_mm == pytest.approx(620.0)
    lp = liquidation_price_tiered(
        side=1,
        qty=2.0,
        entry_price=50_000.0,
        wallet_balance=10_000.0,
        tiers=BTCUSDT_2025,
        other_maintenance=eth_mm,
        other_upnl=eth_upnl,
    )
    assert lp == pytest.approx(48_002.01, abs=0.01)
    # Account at LP: equity 10,000 − 5,000 + 2·(48,002.01 − 50,000) = 1,004.02
    # = MM 620 + 96,004.02·0.4% = 1,004.02 -> margin ratio exactly 1.
    equity = equity_usd(10_000.0, eth_upnl + unrealized_pnl_usd(2.0, 50_000.0, lp))
    mm = eth_mm + maintenance_margin(notional_usd(2.0, lp), BTCUSDT_2025)
    assert equity == pytest.approx(1_004.02, abs=0.01)
    assert margin_ratio(mm, equity) == pytest.approx(1.0, rel=1e-12)


def test_cross_short_landing_on_bracket_floor() -> None:
    # Table C. Wallet 5,000, other UPnL +800, other MM 250; short 8 @ 2,500 (N 20,000: 2.5%, 75).
    # (5,000 − 250 + 800 + 75 + 20,000)/(8·2.5% + 8) = 25,625/8.2 = 3,125 -> N = 25,000, the floor
    # of the 5% bracket, whose line gives (25,550 + 700)/(0.4 + 8) = 26,250/8.4 = 3,125 too.
    kw = {
        "side": -1,
        "qty": 8.0,
        "entry_price": 2_500.0,
        "wallet_balance": 5_000.0,
        "other_maintenance": 250.0,
        "other_upnl": 800.0,
    }
    lp = liquidation_price_tiered(tiers=SMALL_CAP_50X, **kw)
    assert lp == pytest.approx(3_125.0, rel=1e-12)
    assert residual_usd(lp, tiers=SMALL_CAP_50X, **kw) == pytest.approx(0.0, abs=1e-8)


# --- tiered iteration ------------------------------------------------------------------------


def test_tiered_long_steps_down_a_bracket() -> None:
    # Table C, isolated long 100 @ 1,200 (N 120,000: 10%, 5,700), margin 40,000.
    # Entry bracket: (40,000 + 5,700 − 120,000)/(10 − 100) = 825.56 -> N 82,556 is in 5%/700;
    # recompute: (40,000 + 700 − 120,000)/(5 − 100) = 834.74 -> N 83,474, same bracket: done.
    kw = {"side": 1, "qty": 100.0, "entry_price": 1_200.0, "wallet_balance": 40_000.0}
    assert liquidation_price_tiered(tiers=SMALL_CAP_50X, **kw) == pytest.approx(834.74, abs=0.01)
    # max_iter=1 stops at the entry bracket's (inconsistent) answer
    naive = liquidation_price_tiered(tiers=SMALL_CAP_50X, max_iter=1, **kw)
    assert naive == pytest.approx(825.56, abs=0.01)


def test_tiered_short_steps_up_a_bracket() -> None:
    # Table C, isolated short 100 @ 900 (N 90,000: 5%, 700), margin 30,000.
    # (30,000 + 700 + 90,000)/(5 + 100) = 1,149.52 -> N 114,952 in 10%/5,700;
    # (30,000 + 5,700 + 90,000)/(10 + 100) = 1,142.73 -> N 114,273, same bracket: done.
    kw = {"side": -1, "qty": 100.0, "entry_price": 900.0, "wallet_balance": 30_000.0}
    lp = liquidation_price_tiered(tiers=SMALL_CAP_50X, **kw)
    assert lp == pytest.approx(1_142.73, abs=0.01)
    assert residual_usd(lp, tiers=SMALL_CAP_50X, **kw) == pytest.approx(0.0, abs=1e-8)


def test_no_positive_liquidation_price_is_nan() -> None:
    # Long at 1x: (100 − 1·100)/(…) = 0 -> NaN; over-collateralised long: negative -> NaN.
    # Short whose other legs lost more than Q·EP + WB: (100 − 10,000 + 0 + 1·100)/(…) < 0 -> NaN.
    kw = {
        "side": np.array([1, 1, -1]),
        "qty": 1.0,
        "entry_price": 100.0,
        "wallet_balance": np.array([100.0, 150.0, 100.0]),
        "other_upnl": np.array([0, 0, -1e4]),
    }
    assert np.isnan(liquidation_price(mmr=0.01, **kw)).all()
    assert np.isnan(liquidation_price_tiered(tiers=SMALL_CAP_50X, **kw)).all()


# --- bankruptcy ------------------------------------------------------------------------------


def test_bankruptcy_isolated_and_cross() -> None:
    # Isolated long BP = EP − WB/Q = 1,000 − 100/1 = 900; short BP = EP + WB/Q = 1,100.
    # Cross long with other UPnL −50: 1,000 − (100 − 50)/1 = 950.
    bp = bankruptcy_price(
        side=np.array([1, -1, 1]),
        qty=1.0,
        entry_price=1_000.0,
        wallet_balance=100.0,
        other_upnl=np.array([0.0, 0.0, -50.0]),
    )
    np.testing.assert_allclose(bp, [900.0, 1_100.0, 950.0])


# --- vectorisation, scalars, purity, validation -------------------------------------------------

SIDES = np.array([1, -1, 1, -1, 1])
QTYS = np.array([109.488, 3.0, 100.0, 100.0, 0.5])
ENTRIES = np.array([32_481.98, 3_000.0, 1_200.0, 900.0, 60_000.0])
WALLETS = np.array([1_535_443.01, 1_000.0, 40_000.0, 30_000.0, 1_000.0])
OTHER_MM = np.array([0.0, 10.0, 0.0, 20.0, 5.0])
OTHER_UPNL = np.array([0.0, -30.0, 0.0, 40.0, 200.0])


def test_vectorised_matches_scalar_calls() -> None:
    vec = {"side": SIDES, "qty": QTYS, "entry_price": ENTRIES, "wallet_balance": WALLETS}
    others = {"other_maintenance": OTHER_MM, "other_upnl": OTHER_UPNL}
    got_lp = liquidation_price(mmr=0.02, maintenance_amount=5.0, **vec, **others)
    got_tiered = liquidation_price_tiered(tiers=SMALL_CAP_50X, **vec, **others)
    got_bp = bankruptcy_price(**vec, other_upnl=OTHER_UPNL)
    for i in range(len(SIDES)):
        one = {k: v[i] for k, v in vec.items()}
        o = {k: v[i] for k, v in others.items()}
        assert got_lp[i] == liquidation_price(mmr=0.02, maintenance_amount=5.0, **one, **o)
        assert got_tiered[i] == liquidation_price_tiered(tiers=SMALL_CAP_50X, **one, **o)
        assert got_bp[i] == bankruptcy_price(**one, other_upnl=o["other_upnl"])


def test_scalar_in_scalar_out_and_inputs_untouched() -> None:
    lp = liquidation_price(side=1, qty=1.0, entry_price=100.0, wallet_balance=10.0, mmr=0.01)
    assert np.ndim(lp) == 0 and isinstance(lp, float)
    assert np.ndim(maintenance_margin(1_000.0, SMALL_CAP_50X)) == 0
    before = [a.copy() for a in (SIDES, QTYS, ENTRIES, WALLETS, OTHER_MM, OTHER_UPNL)]
    liquidation_price_tiered(
        side=SIDES,
        qty=QTYS,
        entry_price=ENTRIES,
        wallet_balance=WALLETS,
        tiers=BTCUSDT_2025,
        other_maintenance=OTHER_MM,
        other_upnl=OTHER_UPNL,
    )
    for a, b in zip(before, (SIDES, QTYS, ENTRIES, WALLETS, OTHER_MM, OTHER_UPNL), strict=True):
        np.testing.assert_array_equal(a, b)


def test_broadcasting_against_grid() -> None:
    # one position, a column of wallets -> one LP per wallet
    wallets = np.array([[1_000.0], [2_000.0]])
    lp = liquidation_price_tiered(
        side=1, qty=1.0, entry_price=10_000.0, wallet_balance=wallets, tiers=SMALL_CAP_50X
    )
    assert lp.shape == (2, 1) and lp[0, 0] > lp[1, 0]


def test_tiered_rejects_zero_max_iter() -> None:
    with pytest.raises(ValueError, match="max_iter"):
        liquidation_price_tiered(
            side=1, qty=1.0, entry_price=100.0, wallet_balance=10.0, tiers=SMALL_CAP_50X, max_iter=0
        )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"side": 0}, "side"),
        ({"side": 2}, "side"),
        ({"qty": 0.0}, "qty"),
        ({"qty": -1.0}, "qty"),
        ({"qty": np.nan}, "qty"),
        ({"entry_price": 0.0}, "entry_price"),
        ({"mmr": 1.0}, "mmr"),
        ({"mmr": -0.01}, "mmr"),
    ],
)
def test_liquidation_price_rejects_bad_inputs(override: dict, field: str) -> None:
    kw = {"side": 1, "qty": 1.0, "entry_price": 100.0, "wallet_balance": 10.0, "mmr": 0.01}
    with pytest.raises(ValueError, match=field):
        liquidation_price(**{**kw, **override})


# --- properties -------------------------------------------------------------------------------

position = st.tuples(
    st.sampled_from([1, -1]),
    st.floats(1e-3, 1e4),  # qty, coins
    st.floats(1.0, 1e5),  # entry price
    st.floats(0.0, 1.0),  # leverage as a fraction of the bracket's cap
    st.floats(-0.5, 0.5),  # other UPnL as a fraction of the margin
    st.floats(0.0, 0.3),  # other MM as a fraction of the margin
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TABLES), st.lists(position, min_size=1, max_size=20))
def test_property_equity_equals_mm_at_liquidation(tiers: TierTable, rows: list) -> None:
    side, qty, ep, lev_frac, upnl_frac, mm_frac = (
        np.array(c, dtype=float) for c in zip(*rows, strict=True)
    )
    leverage = 1.0 + lev_frac * (tiers.max_leverage_at(qty * ep) - 1.0)
    wallet = qty * ep / leverage
    kw = {
        "side": side,
        "qty": qty,
        "entry_price": ep,
        "wallet_balance": wallet,
        "other_maintenance": mm_frac * wallet,
        "other_upnl": upnl_frac * wallet,
    }
    lp = liquidation_price_tiered(tiers=tiers, **kw)
    # the default iteration cap is never what stops it
    np.testing.assert_array_equal(lp, liquidation_price_tiered(tiers=tiers, max_iter=100, **kw))
    bp = bankruptcy_price(
        side=side, qty=qty, entry_price=ep, wallet_balance=wallet, other_upnl=upnl_frac * wallet
    )
    scale = wallet * 2.0 + qty * ep + qty * np.nan_to_num(lp)
    ok = np.isfinite(lp)
    res = residual_usd(np.where(ok, lp, 1.0), tiers=tiers, **kw)
    assert np.all(np.abs(res[ok]) <= 1e-9 * scale[ok])
    # NaN only when a long survives every positive price: equity(0+) − MM(0) >= 0
    free_at_zero = wallet * (1.0 + upnl_frac - mm_frac) - side * qty * ep
    assert np.all((side[~ok] == 1) & (free_at_zero[~ok] >= -1e-9 * scale[~ok]))
    # Bankruptcy: equity is zero there, and liquidation comes first (MM >= 0)
    okb = np.isfinite(bp)
    eq_bp = wallet + upnl_frac * wallet + side * qty * (np.where(okb, bp, 1.0) - ep)
    assert np.all(np.abs(eq_bp[okb]) <= 1e-9 * scale[okb])
    both = ok & okb
    assert np.all(side[both] * (lp[both] - bp[both]) >= -1e-9 * ep[both])


def test_worst_close_price_keeps_the_unit_at_zero_equity():
    """Long 10 at mark 100 with equity 30, no fee: p* = (1,000 − 30)/10 = 97 (= the BP);
    fee 0.1 %: 970/(10 · 0.999) = 97.0971; short 10, equity 30, fee 0.1 %:
    (1,000 + 30)/(10 · 1.001) = 102.8971. At p* the equity after the close is exactly 0."""
    assert worst_close_price(1, 10.0, 30.0, 100.0, 0.0) == pytest.approx(97.0)
    assert worst_close_price(1, 10.0, 30.0, 100.0, 0.0) == pytest.approx(
        bankruptcy_price_at_mark(1, 10.0, 30.0, 100.0)
    )
    for side, expected in ((1, 970.0 / 9.99), (-1, 1_030.0 / 10.01)):
        p = worst_close_price(side, 10.0, 30.0, 100.0, 0.001)
        assert p == pytest.approx(expected)
        assert 30.0 - side * (100.0 - p) * 10.0 - p * 10.0 * 0.001 == pytest.approx(0.0, abs=1e-9)
