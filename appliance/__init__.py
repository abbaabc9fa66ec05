"""Downtime print appliance: encrypted snapshots in, paper out when the record system is down."""

__version__ = "0.1.0"
