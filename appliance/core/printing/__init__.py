"""What is printed and how: the printer port (`printer`), the kit and its pages (`kit`,
`stamping`, `sheets`, `fonts`, `wording`, the contacts sheet `contacts`), one kit in flight
(`print_guard`), the one print service (`print_service`) and the kit a planned outage prints
by itself as it begins (`outage_kit`). May import every wing before
it (docs/architecture.md).
"""
