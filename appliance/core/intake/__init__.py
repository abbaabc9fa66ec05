"""What arrives and is kept: the one ingest for the network and the USB stick (`ingest`,
`importing`), the PDF checks at the door (`pdf`), the encrypted store (`store`),
retention, counted refusals, the enrolled senders (`registry`) and where the appliance's
own key comes from (`appliance_key`). Imports the wings before it in docs/architecture.md,
never `time`, `printing` or `watch`.
"""
