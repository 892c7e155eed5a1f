"""Pulumi components of the Serenya backend: one ComponentResource per layer."""
