"""Cluster mode: sanctum replicas sharing one replicated log (NATS JetStream).

    esper-sanctum serve --cluster nats://a:4222,b:4222,c:4222

`log` owns the JetStream stream (publish with de-duplication, retention), `replica`
consumes it in order into this process's aggregator, `pipeline` is the Ingest side
(validate, publish, wait for JetStream's ack and the local apply).
"""
