"""The exogenous world: correlated fundamental values and scheduled macro shocks."""

from __future__ import annotations

import math

import numpy as np

from model.config import ModelConfig
from model.types import FloatArray


class World:
    """Fundamental value per asset: log return = beta · (factor + shock drift) + noise.

    factor ~ N(0, factor_vol) per minute (a common factor, the literature's "market");
    noise ~ N(0, idio_vol_a). A shock of size s over d minutes adds log(1 − s) / d to the
    factor each minute, so an asset with beta b falls by 1 − (1 − s)^b over the shock.
    """

    def __init__(self, cfg: ModelConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.beta = np.array([a.beta for a in cfg.assets])
        self.idio = np.array([a.idio_vol for a in cfg.assets])
        self.depth = np.array([a.depth_usd for a in cfg.assets])
        self.log_value = np.log([a.price_usd for a in cfg.assets])

    @property
    def fundamental_usd(self) -> FloatArray:
        return np.exp(self.log_value)

    def step(self, t: int) -> FloatArray:
        """Advance the fundamentals by one minute; return them."""
        factor = self.rng.normal(0.0, self.cfg.world.factor_vol) + self.shock_drift(t)
        noise = self.rng.normal(0.0, 1.0, len(self.beta)) * self.idio
        self.log_value += self.beta * factor + noise
        return self.fundamental_usd

    def shock_drift(self, t: int) -> float:
        """Log drift of the common factor from shocks active at minute t."""
        return sum(
            math.log(1.0 - s.size) / s.duration_minutes
            for s in self.cfg.shocks
            if s.start_minute <= t < s.start_minute + s.duration_minutes
        )

    def risk_off(self, t: int) -> float:
        """Market-maker risk-off factor: full during a shock, fading linearly afterwards."""
        level = 0.0
        for s in self.cfg.shocks:
            end = s.start_minute + s.duration_minutes
            if s.start_minute <= t < end:
                level = max(level, s.mm_risk_off)
            elif end <= t < end + s.recovery_minutes:
                level = max(level, s.mm_risk_off * (1 - (t - end) / s.recovery_minutes))
        return level

    def exo_sell_usd(self, t: int) -> FloatArray:
        """Exogenous sell flow per asset this minute (USD), during shocks."""
        flow = sum(
            s.sell_flow_usd
            for s in self.cfg.shocks
            if s.start_minute <= t < s.start_minute + s.duration_minutes
        )
        return flow * self.depth
