"""Dotted overrides read each value in its field's type: switches as people write them, whole
numbers, tuples, None; every refusal is a ValueError naming the key, the value and what is
allowed (model/overrides.py)."""

import pytest

from experiments.cli import parse_value
from model.config import ModelConfig
from model.overrides import with_overrides
from model.scenarios import scenario
from model.trader_config import MAX_ACCOUNTS


@pytest.mark.parametrize("word", ["false", "False", "FALSE", "no", "off", "0", " Off "])
def test_a_switch_written_false_turns_it_off(word):
    cfg = with_overrides(ModelConfig(), {"liquidation.enabled": parse_value(word)})
    assert cfg.liquidation.enabled is False


@pytest.mark.parametrize("word", ["true", "True", "yes", "on", "1"])
def test_a_switch_written_true_turns_it_on(word):
    start = with_overrides(ModelConfig(), {"liquidation.insurance_enabled": False})
    cfg = with_overrides(start, {"liquidation.insurance_enabled": parse_value(word)})
    assert cfg.liquidation.insurance_enabled is True


def test_an_unknown_switch_word_lists_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        with_overrides(ModelConfig(), {"liquidation.enabled": "maybe"})
    message = str(err.value)
    assert "liquidation.enabled" in message and "'maybe'" in message
    for word in ("true/false", "yes/no", "on/off", "1/0"):
        assert word in message


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("retail.high_leverage", "50,90", (50.0, 90.0)),
        ("liquidation.pool_initial_usd", "1000", 1000.0),  # float | tuple: one for all pools
        ("liquidation.pool_initial_usd", "1,2,3", (1.0, 2.0, 3.0)),
        ("liquidation.major_markets", "0,1,2", (0, 1, 2)),
        ("liquidation.drawdown_trigger", "none", None),
        ("liquidation.drawdown_trigger", "0.3", 0.3),
        ("retail.n_accounts", "2e3", 2000),
    ],
)
def test_values_are_read_in_the_field_type(key, text, expected):
    cfg = with_overrides(ModelConfig(), {key: parse_value(text)})
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("retail.high_leverage", "100", "retail.high_leverage takes 2 comma-separated numbers"),
        ("retail.high_leverage", "50,90,100", "retail.high_leverage takes 2 numbers"),
        ("retail.n_accounts", "abc", "retail.n_accounts must be a whole number in [1, 5,000,000]"),
        ("retail.n_accounts", "2.5", "retail.n_accounts must be a whole number"),
        ("retail.n_accounts", "inf", "retail.n_accounts must be a whole number"),
        ("retail.n_accounts", "10000000000", "retail.n_accounts must be in [1, 5000000]"),
        ("retail.trade_prob", "nan", "retail.trade_prob must be a number"),
        ("retail.asset_weights", "a,b", "retail.asset_weights must be a list of numbers"),
        ("horizon_minutes", "none", "horizon_minutes cannot be None"),
    ],
)
def test_a_bad_value_names_the_key_and_the_value(key, text, message):
    with pytest.raises(ValueError) as err:
        with_overrides(scenario("shock"), {key: parse_value(text)})
    assert message in str(err.value)
    assert text.strip() in str(err.value) or "inf" in str(err.value)


def test_the_crowd_has_an_upper_bound():
    assert with_overrides(ModelConfig(), {"retail.n_accounts": MAX_ACCOUNTS})
    with pytest.raises(ValueError, match=r"retail\.n_accounts must be in"):
        with_overrides(ModelConfig(), {"retail.n_accounts": MAX_ACCOUNTS + 1})


def test_a_shock_key_on_a_scenario_without_shocks_says_so():
    with pytest.raises(ValueError, match="this configuration has no shocks"):
        with_overrides(scenario("calm"), {"shocks.0.size": 0.1})


def test_a_horizon_that_cuts_the_shock_suggests_the_keys_to_set():
    with pytest.raises(ValueError) as err:
        with_overrides(scenario("shock"), {"horizon_minutes": 600})
    message = str(err.value)
    assert "shocks.0.start_minute=720 is after the horizon (600 minutes)" in message
    assert "shocks.0.start_minute=300" in message and "horizon_minutes above 720" in message
