"""Ops command line for avocette-payments: ``python -m tools --help``."""
