"""Market specifications: bad venue rules are refused at construction, naming the field."""

import math

import pytest

from model.config import AssetConfig
from model.engine.specs import (
    FLAT_LIQUIDATION_FEE,
    FundingSpec,
    MarketSpec,
    SpotSpec,
    btc_perp,
    small_cap_perp,
)
from model.engine.tiers import BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X, TierTable
from model.universe import perp_spec


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tick_size": 0.0}, "tick_size"),
        ({"tick_size": -0.1}, "tick_size"),
        ({"lot_size": math.nan}, "lot_size"),
        ({"taker_fee": -0.0001}, "taker_fee"),
        ({"maker_fee": math.inf}, "maker_fee"),
        ({"liquidation_fee": 1.0}, "liquidation_fee"),
        ({"mark_rule": "oracle"}, "mark_rule"),
        ({"impact_notional_usd": -1.0}, "impact_notional_usd"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_invalid_market_spec_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        btc_perp(**overrides)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {
                "floors_usd": (0, 5_000, 5_000),
                "mmr": (0.01, 0.02, 0.03),
                "max_leverage": (50, 20, 10),
            },
            "floors_usd",
        ),
        ({"floors_usd": (0, 5_000), "mmr": (0.01, 0.06), "max_leverage": (50, 20)}, "mmr"),
        ({"floors_usd": (0, 5_000), "mmr": (0.01, math.nan), "max_leverage": (50, 20)}, "mmr"),
    ],
)
def test_invalid_tier_table_names_the_field(kwargs, field):
    # 6 % MMR at 20x: MMR at or above the 5 % initial margin rate is refused.
    with pytest.raises(ValueError, match=field):
        TierTable(**kwargs)


def test_invalid_funding_and_spot_specs_name_the_field():
    with pytest.raises(ValueError, match=r"funding\.interval_minutes"):
        FundingSpec(interval_minutes=0)
    with pytest.raises(ValueError, match=r"funding\.cap"):
        FundingSpec(cap=0.0)
    with pytest.raises(ValueError, match="tick_size"):
        SpotSpec("BTC", tick_size=0.0, lot_size=0.001)


def test_impact_notional_defaults_to_binance_rule():
    # 200 USD / IMR at max leverage: BTCUSDT 2025 first bracket 150x → 200 / (1/150) = 30,000;
    # the 50x small-cap template → 200 · 50 = 10,000.
    assert btc_perp().impact_usd == pytest.approx(30_000.0)
    assert small_cap_perp().impact_usd == pytest.approx(10_000.0)
    assert (
        MarketSpec("X", 0.1, 1.0, BTCUSDT_2025, impact_notional_usd=5_000.0).impact_usd == 5_000.0
    )


def test_perp_spec_scales_the_brackets_by_tier_scale():
    # a tail asset's small-cap table with floors × 100: the 50x bracket ends at 500k, not 5k
    tail = AssetConfig("TAIL", 1.0, "tail")
    assert perp_spec(tail, "binance").tiers == SMALL_CAP_50X
    scaled = perp_spec(tail, "binance", tier_scale=100.0)
    assert scaled.tiers == SMALL_CAP_50X.scaled(100.0)
    assert scaled.tiers.max_leverage_at(400_000.0) == 50.0
    # the Binance impact notional follows the first bracket's leverage, not its floor
    assert scaled.impact_usd == perp_spec(tail, "binance").impact_usd == 10_000.0


def test_regression_alt_funding_cap_follows_the_rule_it_cites():
    """Issue 16, defect 4: Binance's default cap is ±0.75 × the first tier's MMR (§2.5). The
    large alts trade on the 2021 BTC table, first-tier MMR 0.4 %: cap 0.75 × 0.4 % = 0.30 %
    (it was 0.75 %, the rule's factor read as a rate)."""
    spec = perp_spec(AssetConfig("SOL", 200.0, "alt"), "binance")
    assert spec.tiers.mmr[0] == pytest.approx(0.004)
    assert spec.funding.cap == pytest.approx(0.003)


def test_the_clearance_fee_is_the_symbols_tier_table_field_unless_set():
    """Binance lists `liquidationFee` per symbol with its brackets (exchange-mechanics §2.3):
    BTCUSDT 1.25 %, the API documentation's example 1 % (our small-cap template). A spec
    without its own fee takes its table's; a table without one gives the old flat 0.5 %."""
    assert btc_perp().liquidation_fee == 0.0125
    assert small_cap_perp().liquidation_fee == 0.01
    assert btc_perp(liquidation_fee=0.003).liquidation_fee == 0.003
    assert btc_perp(tiers=BTCUSDT_2021).liquidation_fee == FLAT_LIQUIDATION_FEE == 0.005
    assert BTCUSDT_2025.scaled(10.0).clearance_fee == 0.0125
    with pytest.raises(ValueError, match="clearance_fee must be a fraction in"):
        TierTable((0.0,), (0.01,), (50.0,), clearance_fee=0.2)


def test_the_model_charges_each_symbols_clearance_fee():
    """The default assets take their tier table's fee: majors (BTCUSDT 2025 table) 1.25 %,
    alts (2021 table, none listed) 0.5 %, the long tail (small-cap template) 1 %."""
    from model import CascadeModel

    model = CascadeModel(scenario="oct-2025", rng=0, **{"retail.n_accounts": 200})
    fees = {p.symbol: p.liquidation_fee for p in model.exchange.perps}
    assert fees == {
        "BTCUSDT": 0.0125, "ETHUSDT": 0.0125, "SOLUSDT": 0.005, "DOGEUSDT": 0.005,
        "TAILAUSDT": 0.01, "TAILBUSDT": 0.01,
    }  # fmt: skip


def test_funding_spec_names_a_bad_rate_share_or_price():
    with pytest.raises(ValueError, match=r"funding\.rate_share"):
        FundingSpec(rate_share=0.0)
    with pytest.raises(ValueError, match=r"funding\.price"):
        FundingSpec(price="last")
