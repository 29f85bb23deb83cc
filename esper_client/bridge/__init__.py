"""Bridge from the original in-process system's telemetry to the Esper contract.

One mapping (`Mapper`) serves the file importer (`esper-sanctum import`) and the live
output backend. It reads records shaped like the original's JSONL lines (dicts), so the
original system need not be installed.
"""

from __future__ import annotations

from esper_client.bridge.backend import SanctumOutput
from esper_client.bridge.jsonl import JsonlFile, Line
from esper_client.bridge.mapper import Mapper, run_id_for
from esper_client.bridge.registry import MAPPINGS
from esper_client.bridge.report import MapReport

__all__ = ["MAPPINGS", "JsonlFile", "Line", "MapReport", "Mapper", "SanctumOutput",
           "run_id_for"]
