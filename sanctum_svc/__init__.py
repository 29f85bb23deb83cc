"""esper-sanctum: the aggregation service (gRPC), its store and its health model."""
