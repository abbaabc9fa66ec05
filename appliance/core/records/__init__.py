"""What the appliance records about itself: the hash-chained audit log (`audit`), the
panel's health (`panel_health`) and the planned outages it was told of (`planned_outages`).
Imports `base`, `crypto`, `config`.
"""
