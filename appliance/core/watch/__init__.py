"""What the appliance tells people about itself: its status (`status`), missed-slot alerts
(`slots`) and metrics (`metrics`). May import every other wing.
"""
