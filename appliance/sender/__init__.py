"""The office-PC side: seal exports for appliances and push them over HTTP.

Runs on Linux and Windows: standard library plus `cryptography`, no POSIX-only calls.
"""
