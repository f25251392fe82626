"""Helpers shared by the tests: practices, sandboxes, clocks, fakes (imported as ``support.*``)."""
