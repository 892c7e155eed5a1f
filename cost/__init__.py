"""`make cost`: the monthly bill of each stack, modelled from the program's own resources.

graph.py evaluates the Pulumi program as the tests do and reads its resources; usage.py
applies the usage profile (profile.toml) to them; pricing.py prices every billable
resource type at the dated prices of prices_eu-west-1.toml; choices.py prices the
alternatives; report.py prints the totals and renders docs/cost.md. Tooling only: the
Lambda code in functions/ never imports it (a test checks).
"""
