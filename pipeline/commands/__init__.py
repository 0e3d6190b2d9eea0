"""Subcommands of `catdog`, one module each."""
