"""Keys and the seal: key files and fingerprints, the KEM suites, sealing and opening
snapshots (docs/seal-format.md). Imports only `base`.
"""
