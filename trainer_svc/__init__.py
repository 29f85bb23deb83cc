"""trainer_svc: the Tamiyo PPO trainer and its telemetry client.

torch warns at import when NumPy is missing; the trainer never uses NumPy, so that one
warning is silenced here rather than shown on every `esper-trainer` run.
"""

import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
