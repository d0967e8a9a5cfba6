"""What a person looks at: `quotawatch status`, `history` and `report`, read from the table only.

They never call a provider and never need a key. `table.py` finds the table (a deployed
stack's outputs, or the local stack of `make up`); `status.py` and `history.py` turn what
is stored into rows (pure); `text.py` prints them; `report.py` writes the HTML report,
whose charts `charts.py` draws with matplotlib (an optional extra, never in the layer's
requirements: it is imported only when a report is written).
"""
