"""The configuration: one declarative schema (`schema`), the settings it yields
(`settings`), their reference text (`reference`, docs/configuration.md) and first-time
set-up of an installation folder (`setup`). Imports `base` and `crypto`.
"""
