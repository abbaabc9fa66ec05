"""What the appliance records about itself: the hash-chained audit log (`audit`) and the
panel's health (`panel_health`). Imports `base`, `crypto`, `config`.
"""
