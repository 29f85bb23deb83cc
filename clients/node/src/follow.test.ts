// Unit tests of Follower on the recorded streams (testdata/watch.json, see delta.test.ts).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { clone, fromBinary } from "@bufbuild/protobuf";
import { DeltaMismatch } from "./delta.js";
import { Follower, MAX_MISMATCHES, WireStats } from "./follow.js";
import { WatchSnapshotsResponseSchema, type WatchSnapshotsResponse } from "./gen/esper/sanctum/v2/sanctum_pb.js";

const recorded = (JSON.parse(readFileSync(new URL("../testdata/watch.json", import.meta.url), "utf8")) as {
  incremental: string[];
}).incremental.map((b64) => fromBinary(WatchSnapshotsResponseSchema, Buffer.from(b64, "base64")));
const [first, ...deltas] = recorded;

function broken(msg: WatchSnapshotsResponse): WatchSnapshotsResponse {
  const copy = clone(WatchSnapshotsResponseSchema, msg);
  if (copy.kind.case === "delta") copy.kind.value.fullBytes += 1n;
  return copy;
}

test("a follower turns a stream of deltas into whole snapshots and counts their bytes", () => {
  const stats = new WireStats();
  const follower = new Follower(true, stats);
  let last = follower.next(first);
  for (const msg of deltas) last = follower.next(msg);
  assert.equal(last?.version, deltas[deltas.length - 1].kind.value?.version);
  assert.equal(stats.full, 1);
  assert.equal(stats.deltas, deltas.length);
  assert.ok(stats.deltaBytes > 0 && stats.fullBytes > 0);
  assert.match(stats.line(), new RegExp(`^updates: 1 full snapshots \\(\\d+ bytes, \\d+ per update\\), ${deltas.length} deltas`));
});

test("a delta before any full snapshot, or after a restart, is refused", () => {
  const follower = new Follower(true);
  assert.throws(() => follower.next(deltas[0]), DeltaMismatch);
  follower.next(first);
  follower.restart();
  assert.throws(() => follower.next(deltas[0]), DeltaMismatch);
});

test(`after ${MAX_MISMATCHES} refused deltas in a row the follower asks for full snapshots`, () => {
  const follower = new Follower(true);
  for (let i = 0; i < MAX_MISMATCHES; i++) {
    assert.equal(follower.incremental, true);
    follower.restart();
    follower.next(first);
    if (i === 1) follower.next(deltas[0]); // one that applies resets the count
    assert.throws(() => follower.next(broken(deltas[i === 1 ? 1 : 0])), DeltaMismatch);
  }
  assert.equal(follower.incremental, true, "the run was broken by a delta that applied");
  follower.restart();
  follower.next(first);
  assert.throws(() => follower.next(broken(deltas[0])), DeltaMismatch);
  assert.equal(follower.incremental, false);
  assert.equal(new Follower(false).incremental, false, "--full never asks");
});
