"""Cascade Lab's model: the exchange engine and the Mesa model around it.

`from model import CascadeModel` loads the Mesa wiring (and the agents) on first use only.
"""


def __getattr__(name: str):
    if name in ("CascadeModel", "ExchangeAgent"):
        from model import market

        return getattr(market, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
