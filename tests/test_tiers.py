"""Tier tables: cum recursion (TV-B1), bracket lookup, validation."""

import numpy as np
import pytest

from model.engine.margin import maintenance_margin
from model.engine.tiers import BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X, TierTable


def test_tv_b1_cum_table_a() -> None:
    # §2.1 TV-B1, e.g. cum_3 = 250,000·(1% − 0.5%) + 50 = 1,300 (Binance FAQ "Level 3").
    expected = [0, 50, 1300, 16300, 266300, 1266300, 2516300, 5016300, 25016300, 100016300]
    np.testing.assert_array_equal(BTCUSDT_2021.cum_usd, expected)


def test_tv_b1_cum_table_b() -> None:
    # §2.1 TV-B1, e.g. cum_2 = 300,000·(0.5% − 0.4%) = 300; cum_3 = 800,000·0.15% + 300 = 1,500.
    expected = [
        0,
        300,
        1500,
        12000,
        132000,
        482000,
        2982000,
        14482000,
        26482000,
        41482000,
        121482000,
        421482000,
    ]
    np.testing.assert_array_equal(BTCUSDT_2025.cum_usd, expected)


def test_cum_table_c() -> None:
    # 5,000·1.5% = 75; 25,000·2.5% + 75 = 700; 100,000·5% + 700 = 5,700;
    # 250,000·2.5% + 5,700 = 11,950; 1,000,000·37.5% + 11,950 = 386,950.
    np.testing.assert_array_equal(SMALL_CAP_50X.cum_usd, [0, 75, 700, 5700, 11950, 386950])


def test_tv_h1_hyperliquid_deduction_uses_same_recursion() -> None:
    # §5.1 TV-H1: BTC 0–150M 40x (MMR 1.25%), >150M 20x (2.5%): 150M·1.25% = 1.875M.
    hl_btc = TierTable(floors_usd=(0, 150e6), mmr=(0.0125, 0.025), max_leverage=(40, 20))
    np.testing.assert_array_equal(hl_btc.cum_usd, [0.0, 1.875e6])


def test_documented_tables_shape() -> None:
    assert (BTCUSDT_2021.n_brackets, BTCUSDT_2025.n_brackets, SMALL_CAP_50X.n_brackets) == (
        10,
        12,
        6,
    )
    assert BTCUSDT_2025.floors_usd[-1] == 1.2e9
    assert (BTCUSDT_2025.max_leverage[0], BTCUSDT_2025.mmr[0]) == (150.0, 0.004)
    assert (BTCUSDT_2025.max_leverage[-1], BTCUSDT_2025.mmr[-1]) == (1.0, 0.5)
    np.testing.assert_allclose(SMALL_CAP_50X.imr_arr, [0.02, 0.05, 0.10, 0.20, 0.50, 1.0])


def test_derived_arrays_are_read_only() -> None:
    for arr in (
        SMALL_CAP_50X.floors,
        SMALL_CAP_50X.mmr_arr,
        SMALL_CAP_50X.imr_arr,
        SMALL_CAP_50X.max_leverage_arr,
        SMALL_CAP_50X.cum_usd,
    ):
        assert arr.dtype == np.float64
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


def test_bracket_edges_belong_to_upper_bracket() -> None:
    notional = np.array([0.0, 4_999.99, 5_000.0, 25_000.0, 999_999.0, 1e6, 1e12])
    np.testing.assert_array_equal(SMALL_CAP_50X.bracket(notional), [0, 0, 1, 2, 4, 5, 5])


def test_bracket_scalar_and_shape() -> None:
    k = SMALL_CAP_50X.bracket(30_000.0)
    assert np.ndim(k) == 0 and k == 2
    grid = np.array([[0.0, 6e3], [3e5, 2e6]])
    assert SMALL_CAP_50X.bracket(grid).shape == (2, 2)


def test_rate_lookups() -> None:
    n = np.array([1_000.0, 30_000.0, 2e6])
    np.testing.assert_array_equal(SMALL_CAP_50X.mmr_at(n), [0.01, 0.05, 0.5])
    np.testing.assert_array_equal(SMALL_CAP_50X.cum_at(n), [0.0, 700.0, 386950.0])
    np.testing.assert_array_equal(SMALL_CAP_50X.max_leverage_at(n), [50.0, 10.0, 1.0])


@pytest.mark.parametrize("bad", [-1.0, np.nan, [1.0, -5.0]])
def test_bracket_rejects_negative_or_nan(bad: object) -> None:
    with pytest.raises(ValueError, match="notional_usd"):
        SMALL_CAP_50X.bracket(bad)


def test_inputs_normalised_equal_and_hashable() -> None:
    a = TierTable(floors_usd=[0, 5000], mmr=[0.01, 0.025], max_leverage=[50, 20])
    b = TierTable(floors_usd=(0.0, 5e3), mmr=(0.01, 0.025), max_leverage=(50.0, 20.0))
    assert a == b and hash(a) == hash(b)
    assert a.floors_usd == (0.0, 5000.0)


GOOD = {"floors_usd": (0, 5000), "mmr": (0.01, 0.025), "max_leverage": (50, 20)}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {
                "floors_usd": (0, 5000, 5000),
                "mmr": (0.01, 0.02, 0.03),
                "max_leverage": (50, 20, 10),
            },
            r"floors_usd must be strictly increasing from 0, got \(0\.0, 5000\.0, 5000\.0\)",
        ),
        ({"floors_usd": (100, 5000)}, "floors_usd must be strictly increasing from 0"),
        ({"floors_usd": (0, -5)}, "floors_usd must be strictly increasing"),
        ({"floors_usd": (0, np.inf)}, "floors_usd must be finite"),
        ({"mmr": (0.01, np.nan)}, "mmr must be finite"),
        ({"max_leverage": (np.nan, 20)}, "max_leverage must be finite"),
        ({"mmr": (0.0, 0.025)}, r"mmr must lie in \(0, 1\)"),
        ({"mmr": (0.01, 1.0)}, r"mmr must lie in \(0, 1\)"),
        ({"max_leverage": (50, 0.5)}, "max_leverage must be >= 1"),
        ({"mmr": (0.025, 0.01)}, "mmr must be non-decreasing"),
        ({"max_leverage": (20, 50)}, "max_leverage must be non-increasing"),
        ({"mmr": (0.02, 0.025)}, r"mmr\[0\]=0.02 is at or above the initial margin rate"),
        ({"mmr": (0.01, 0.06)}, r"mmr\[1\]=0.06 is at or above the initial margin rate"),
        ({"mmr": (0.01,)}, "equal length >= 1, got floors_usd=2, mmr=1, max_leverage=2"),
        ({"floors_usd": (), "mmr": (), "max_leverage": ()}, "equal length >= 1"),
        ({"mmr": "abc"}, "mmr must be a sequence of numbers"),
        ({"max_leverage": 50}, "max_leverage must be a sequence of numbers"),
    ],
)
def test_bad_tables_raise_naming_field(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TierTable(**{**GOOD, **override})


def test_error_names_table_class() -> None:
    with pytest.raises(ValueError, match=r"^TierTable\.mmr"):
        TierTable(**{**GOOD, "mmr": (0.5, 0.6)})


# ---------------------------------------------------------------------------------------------
# scaled tables: a model account stands for a cohort of real ones
# ---------------------------------------------------------------------------------------------
def test_scaled_moves_the_floors_and_keeps_rates_and_caps() -> None:
    scaled = SMALL_CAP_50X.scaled(100.0)
    # floors × 100: 0, 500k, 2.5M, 10M, 25M, 100M
    assert scaled.floors_usd == (0.0, 500e3, 2.5e6, 10e6, 25e6, 100e6)
    assert scaled.mmr == SMALL_CAP_50X.mmr
    assert scaled.max_leverage == SMALL_CAP_50X.max_leverage
    # cum × 100 (the recursion is linear in the floors): 0, 7,500, 70,000, 570,000, …
    np.testing.assert_array_equal(
        scaled.cum_usd, [0, 7_500, 70_000, 570_000, 1_195_000, 38_695_000]
    )


def test_scaled_btc_table_moves_the_150x_edge() -> None:
    # BTCUSDT_2025.scaled(10): the 150x bracket ends at 300k × 10 = 3M instead of 300k
    scaled = BTCUSDT_2025.scaled(10.0)
    assert BTCUSDT_2025.max_leverage_at(400e3) == 100.0
    assert scaled.max_leverage_at(400e3) == 150.0
    assert scaled.max_leverage_at(2_999_999.0) == 150.0
    assert scaled.max_leverage_at(3e6) == 100.0


@pytest.mark.parametrize("factor", [0.5, 2.5, 10.0, 100.0])
def test_scaled_maintenance_is_proportional(factor: float) -> None:
    # MM(f · N) = f · MM(N): e.g. small-cap N = 30,000: 30,000 · 5 % − 700 = 800, and
    # f = 100: 3M · 5 % − 70,000 = 80,000
    notional = np.array([0.0, 1_000.0, 4_999.0, 5_000.0, 30_000.0, 250_000.0, 3e6])
    for table in (SMALL_CAP_50X, BTCUSDT_2021, BTCUSDT_2025):
        want = factor * maintenance_margin(notional, table)
        got = maintenance_margin(factor * notional, table.scaled(factor))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert maintenance_margin(3e6, SMALL_CAP_50X.scaled(100.0)) == pytest.approx(80_000.0)


def test_scaled_by_one_is_the_same_table() -> None:
    assert BTCUSDT_2025.scaled(1.0) == BTCUSDT_2025


@pytest.mark.parametrize("bad", [0.0, -2.0, np.nan, np.inf])
def test_scaled_refuses_a_bad_factor(bad: float) -> None:
    with pytest.raises(ValueError, match="tier scale must be a finite number > 0"):
        SMALL_CAP_50X.scaled(bad)
