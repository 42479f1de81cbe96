"""The agent contract: a thin policy that reads a snapshot and returns order intents."""

from __future__ import annotations

import mesa
import numpy as np

from model.engine.orders import Order, Quotes
from model.views import AccountsView, MarketView

Intent = Order | Quotes


class Trader(mesa.Agent):
    """A strategic actor registered with Mesa; it owns exchange accounts but never writes them.

    Args:
        model: The Mesa model (used by Mesa for registration only; agents do not read it).
        accounts: Exchange account ids this agent trades for.
        rng: The agent's own random stream (a child of the run's SeedSequence).
    """

    def __init__(self, model: mesa.Model, accounts: np.ndarray, rng: np.random.Generator) -> None:
        super().__init__(model)
        self.account_ids = np.asarray(accounts, dtype=np.int64)
        self.rng_stream = rng
        self.broken_hedge_orders: list[Order] = []
        """This step's orders that answer a broken hedge (the model records what they fill)."""

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return this step's order intents from the frozen snapshot."""
        raise NotImplementedError
