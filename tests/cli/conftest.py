"""Fixtures: a practice dir for the CLI verbs, and no Xero app from the shell."""

from support.cli_fixtures import no_xero_app, practice  # noqa: F401
