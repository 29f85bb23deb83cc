"""Screens pushed over the dashboard: help, run picker, env detail."""
