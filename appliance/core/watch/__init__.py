"""What the appliance tells people about itself: its status (`status`), missed-slot alerts
(`slots`), metrics (`metrics`) and the self-check (`selftest`). May import every other wing.
"""
