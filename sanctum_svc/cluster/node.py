"""One replica's membership in the cluster: connect, catch up, then serve.

Start-up is the cluster counterpart of replaying the store: health stays NOT_SERVING until
this replica has applied everything the stream held when it started.
"""

from __future__ import annotations

import logging

from sanctum_svc.cluster.checkpoints import Checkpoints
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
        self.checkpoints = Checkpoints(self.events, local, config.checkpoint_every)
        self.replica = Replica(self.events, local, self.checkpoints.applied)
        self.pipeline = ClusterPipeline(local, self.events, self.replica)
        #: The stream sequence of the checkpoint this replica started from (0: none).
        self.restored_from = 0

    async def start(self) -> int:
        """Connect, restore the newest checkpoint, apply the stream after it up to the
        stream's current end; returns the last message applied."""
        await self.events.connect()
        try:
            await self.checkpoints.open()
            self.restored_from = await self.checkpoints.restore()
        except ClusterError:
            await self.close()
            raise
        except Exception as exc:  # the object store is unreachable: catch up from the start
            log.warning("cluster checkpoints unavailable (%s); applying the whole stream",
                        exc or type(exc).__name__)
        self.replica.applied = self.restored_from
        self.replica.start()
        target = await self.events.last_seq()
        log.info("cluster: restored checkpoint at message %d, catching up to message %d",
                 self.restored_from, target)
        try:
            await self.replica.wait_applied(target, CATCH_UP_TIMEOUT_S)
        except ClusterError:
            await self.close()
            raise
        return self.replica.applied

    async def close(self) -> None:
        await self.replica.close()
        await self.checkpoints.close()
        await self.events.close()
