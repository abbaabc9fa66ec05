"""Time and age: whether the clock can be trusted (`clock_trust`), how old a snapshot is
against the slots (`freshness`), drills (`drills`), and day or on-call hours
(`day_hours`). Imports the wings before it in docs/architecture.md, never `intake`,
`printing` or `watch`.
"""
