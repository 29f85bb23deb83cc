// Following a WatchSnapshots stream: whole snapshots as sent, deltas applied to the snapshot
// held (src/delta.ts), so that the rest of the client only ever sees whole snapshots. A
// delta that does not apply ends the stream: the caller resubscribes, and the new stream
// starts with a full snapshot (sanctum.proto, SnapshotDelta).
import { toBinary } from "@bufbuild/protobuf";
import { applyDelta, DeltaMismatch } from "./delta.js";
import {
  WatchSnapshotsResponseSchema,
  type SanctumSnapshot,
  type WatchSnapshotsResponse,
} from "./gen/esper/sanctum/v2/sanctum_pb.js";

/** Deltas that did not apply in a row before the watch asks for full snapshots only. */
export const MAX_MISMATCHES = 3;

/** Updates received and their protobuf bytes, full snapshots and deltas apart. */
export class WireStats {
  full = 0;
  fullBytes = 0;
  deltas = 0;
  deltaBytes = 0;
  resubscribes = 0;

  count(msg: WatchSnapshotsResponse): void {
    const kind = msg.kind.case;
    if (kind !== "snapshot" && kind !== "delta") return;
    const bytes = toBinary(WatchSnapshotsResponseSchema, msg).length;
    if (kind === "snapshot") {
      this.full += 1;
      this.fullBytes += bytes;
    } else {
      this.deltas += 1;
      this.deltaBytes += bytes;
    }
  }

  line(): string {
    const mean = (bytes: number, n: number) => (n === 0 ? "—" : String(Math.round(bytes / n)));
    return (
      `updates: ${this.full} full snapshots (${this.fullBytes} bytes, ${mean(this.fullBytes, this.full)} per update), ` +
      `${this.deltas} deltas (${this.deltaBytes} bytes, ${mean(this.deltaBytes, this.deltas)} per update), ` +
      `${this.resubscribes} resubscribes`
    );
  }
}

/** The snapshot held across the messages of a watch, and whether to ask for deltas. */
export class Follower {
  private held: SanctumSnapshot | undefined;
  private mismatches = 0;

  constructor(private readonly wantDeltas: boolean, private readonly stats?: WireStats) {}

  /** Ask the next stream for deltas? Not once MAX_MISMATCHES in a row did not apply. */
  get incremental(): boolean {
    return this.wantDeltas && this.mismatches < MAX_MISMATCHES;
  }

  /** A new stream begins: what is held is no base for its deltas. */
  restart(): void {
    this.held = undefined;
  }

  /** The whole snapshot after `msg`; undefined for a heartbeat or a kind this client does
   * not know. Throws DeltaMismatch (and counts it) when a delta does not apply. */
  next(msg: WatchSnapshotsResponse): SanctumSnapshot | undefined {
    this.stats?.count(msg);
    if (msg.kind.case === "snapshot") {
      this.held = msg.kind.value;
      return this.held;
    }
    if (msg.kind.case !== "delta") return undefined;
    try {
      if (this.held === undefined) throw new DeltaMismatch("a delta before any full snapshot");
      this.held = applyDelta(this.held, msg.kind.value);
    } catch (err) {
      this.held = undefined;
      this.mismatches += 1;
      if (this.stats) this.stats.resubscribes += 1;
      throw err;
    }
    this.mismatches = 0;
    return this.held;
  }
}
