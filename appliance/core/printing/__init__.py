"""What is printed and how: the printer port (`printer`), the kit and its pages (`kit`,
`stamping`, `sheets`, `fonts`, `wording`, the contacts sheet `contacts`), one kit in flight
(`print_guard`) and the one print service (`print_service`). May import every wing before
it (docs/architecture.md).
"""
