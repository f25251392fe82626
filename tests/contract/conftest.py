"""Fixtures for the reference host's own tests (the public ones come from refhost.testing)."""

from hookspecs.refhost.testing import refhost, refhost_clock, register_plugin

__all__ = ["refhost", "refhost_clock", "register_plugin"]
