"""The exchange engine: accounts, order books, margin, prices, funding, liquidation, pools and
loss-absorption policies. Nothing here imports the Mesa model, the agents or the experiments
(tests/test_layering.py reads the imports)."""
