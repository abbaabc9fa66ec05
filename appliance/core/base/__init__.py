"""The building blocks every wing uses: errors, atomic files and locks, canonical JSON, the
clock, text that is safe to log, template rendering and the persistent alert queue.
Imports nothing else in core.
"""
