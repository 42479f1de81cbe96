"""The exogenous world: correlated fundamental values and scheduled macro shocks."""

from __future__ import annotations

import math

import numpy as np

from model.config import ModelConfig
from model.engine.types import FloatArray


class World:
    """Fundamental value per asset: log return = beta · (factor + shock drift) + noise.

    factor: per-minute returns of a common factor (the literature's "market"), N(0, factor_vol)
    or GARCH(1,1)-t with long-run volatility factor_vol (`factor_shock`);
    noise ~ N(0, idio_vol_a). A shock of size s over d minutes adds log(1 − s) / d to the
    factor each minute, so an asset with beta b falls by 1 − (1 − s)^b over the shock.
    """

    def __init__(self, cfg: ModelConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.beta = np.array([a.beta for a in cfg.assets])
        self.idio = np.array([a.idio_vol for a in cfg.assets])
        self.depth = np.array([a.depth_usd for a in cfg.assets])
        self.log_value = np.log([a.price_usd for a in cfg.assets])
        self.factor_var = cfg.world.factor_vol**2  # h_t of the GARCH factor

    @property
    def fundamental_usd(self) -> FloatArray:
        return np.exp(self.log_value)

    def step(self, t: int) -> FloatArray:
        """Advance the fundamentals by one minute; return them."""
        factor = self.factor_shock() + self.shock_drift(t)
        self.update_variance(factor)
        noise = self.rng.normal(0.0, 1.0, len(self.beta)) * self.idio
        self.log_value += self.beta * factor + noise
        return self.fundamental_usd

    @property
    def is_garch(self) -> bool:
        """Whether the factor's volatility or tails differ from a constant Gaussian."""
        w = self.cfg.world
        return w.vol_persistence > 0.0 or w.tail_dof > 0.0

    def factor_shock(self) -> float:
        """This minute's factor innovation ε_t, before shocks.

        Notes:
            Constant volatility: ε ~ N(0, factor_vol). Otherwise ε_t = √h_t · z_t, z_t standard
            normal or Student-t with tail_dof degrees of freedom scaled to unit variance
            (t·√((ν − 2)/ν); GARCH-t, Bollerslev 1987); h_t from `update_variance`.
        """
        w = self.cfg.world
        if not self.is_garch:
            return float(self.rng.normal(0.0, w.factor_vol))
        if w.tail_dof:
            z = self.rng.standard_t(w.tail_dof) * math.sqrt((w.tail_dof - 2.0) / w.tail_dof)
        else:
            z = self.rng.standard_normal()
        return float(math.sqrt(self.factor_var) * z)

    def update_variance(self, factor: float) -> None:
        """GARCH(1,1) (Bollerslev 1986): h_{t+1} = ω + α·x_t² + β·h_t.

        Notes:
            x_t is the factor's whole return, shock drift included, so a crash raises the
            volatility that follows it (aftershocks); ω = factor_vol²·(1 − α − β) keeps the
            long-run variance at factor_vol², h_0 = factor_vol²; α = vol_reaction,
            α + β = vol_persistence. No-op with constant volatility.
        """
        w = self.cfg.world
        if self.is_garch:
            omega = w.factor_vol**2 * (1.0 - w.vol_persistence)
            beta = w.vol_persistence - w.vol_reaction
            self.factor_var = omega + w.vol_reaction * factor * factor + beta * self.factor_var

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
