"""Esper producer SDK: stream a training run's telemetry to sanctum (torch-free)."""
