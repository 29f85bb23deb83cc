"""One replica's membership in the cluster: connect, catch up, then serve.

Start-up is the cluster counterpart of replaying the store: health stays NOT_SERVING until
this replica has applied everything the stream held when it started.
"""

from __future__ import annotations

import logging

from sanctum_svc.cluster.log import ClusterError, EventLog, LogConfig
from sanctum_svc.cluster.pipeline import ClusterPipeline
from sanctum_svc.cluster.replica import Replica
from sanctum_svc.ingest import IngestPipeline

log = logging.getLogger(__name__)

#: Seconds a starting replica may take to apply the stream (progress is logged).
CATCH_UP_TIMEOUT_S = 600.0


class ClusterNode:
    """The log, the consumer and the Ingest side of one replica."""

    def __init__(self, config: LogConfig, local: IngestPipeline) -> None:
        self.events = EventLog(config)
        self.replica = Replica(self.events, local)
        self.pipeline = ClusterPipeline(local, self.events, self.replica)

    async def start(self) -> int:
        """Connect, apply the stream up to its current end; returns messages applied."""
        await self.events.connect()
        self.replica.start()
        target = await self.events.last_seq()
        log.info("cluster: catching up to stream message %d", target)
        try:
            await self.replica.wait_applied(target, CATCH_UP_TIMEOUT_S)
        except ClusterError:
            await self.close()
            raise
        return self.replica.applied

    async def close(self) -> None:
        await self.replica.close()
        await self.events.close()
