// Unit tests of applyDelta on what a real sanctum sent: testdata/watch.json holds an
// incremental and a full WatchSnapshots stream of the same run at the same versions,
// recorded by scripts/record_watch.py (`make fixture`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { clone, create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { applyDelta, DeltaMismatch } from "./delta.js";
import {
  GroupPatchSchema,
  SanctumSnapshotSchema,
  SnapshotDeltaSchema,
  WatchSnapshotsResponseSchema,
  type SanctumSnapshot,
  type SnapshotDelta,
} from "./gen/esper/sanctum/v2/sanctum_pb.js";

interface Recording {
  incremental: string[];
  full: string[];
}

const recording = JSON.parse(
  readFileSync(new URL("../testdata/watch.json", import.meta.url), "utf8"),
) as Recording;

function decode(list: string[]) {
  return list.map((b64) => fromBinary(WatchSnapshotsResponseSchema, Buffer.from(b64, "base64")).kind);
}

const incremental = decode(recording.incremental);
const fulls = new Map<bigint, SanctumSnapshot>();
for (const kind of decode(recording.full)) {
  if (kind.case === "snapshot") fulls.set(kind.value.version, kind.value);
}
const first = incremental[0].value as SanctumSnapshot;
const deltas = incremental.filter((k) => k.case === "delta").map((k) => k.value as SnapshotDelta);

test("the recording is a full snapshot, then deltas", () => {
  assert.equal(incremental[0].case, "snapshot");
  assert.ok(deltas.length >= 5, `${deltas.length} deltas`);
  assert.equal(deltas.length, incremental.length - 1);
});

test("deltas rebuild, at every version, the snapshot a full subscriber got", () => {
  let held = first;
  let compared = 0;
  for (const delta of deltas) {
    const before = toBinary(SanctumSnapshotSchema, held);
    const next = applyDelta(held, delta);
    assert.deepEqual(toBinary(SanctumSnapshotSchema, held), before, "the held snapshot was modified");
    assert.equal(next.version, delta.version);
    const full = fulls.get(next.version);
    if (full !== undefined) {
      assert.ok(equals(SanctumSnapshotSchema, next, full), `differs from the full snapshot at ${next.version}`);
      compared += 1;
    }
    held = next;
  }
  assert.ok(compared >= 5, `${compared} versions compared`);
  assert.ok(equals(SanctumSnapshotSchema, held, fulls.get(deltas[deltas.length - 1].version)!));
});

function held(i: number): SanctumSnapshot {
  let snap = first;
  for (const delta of deltas.slice(0, i)) snap = applyDelta(snap, delta);
  return snap;
}

function tampered(delta: SnapshotDelta, change: (d: SnapshotDelta) => void): SnapshotDelta {
  const copy = clone(SnapshotDeltaSchema, delta);
  change(copy);
  return copy;
}

test("a delta for another base version or run is refused, not applied", () => {
  assert.throws(() => applyDelta(first, deltas[1]), DeltaMismatch); // skips deltas[0]
  assert.throws(() => applyDelta(held(2), deltas[1]), DeltaMismatch); // already applied
  assert.throws(() => applyDelta(first, tampered(deltas[0], (d) => (d.runId = "other"))), DeltaMismatch);
});

test("a result of another size than the server stated is refused", () => {
  const off = tampered(deltas[0], (d) => (d.fullBytes += 1n));
  assert.throws(() => applyDelta(first, off), /delta result is \d+ bytes/);
});

test("indexes, counts and fields out of range are refused", () => {
  const base = held(1);
  const delta = deltas[1];
  assert.ok(delta.series.length > 0 && delta.envs !== undefined && delta.envs.envs.length > 0);
  const cases: Array<[string, (d: SnapshotDelta) => void]> = [
    ["series", (d) => (d.series[0].index = 100_000)],
    ["series", (d) => (d.series[0].dropped = 1_000_000)],
    ["env", (d) => (d.envs!.envs[0].index = 100_000)],
    ["group", (d) => d.groups.push(create(GroupPatchSchema, { index: 99 }))],
    ["no field 99", (d) => d.cleared.push(99)],
    ["no seed", (d) => d.envs!.envs[0].seedsRemoved.push("no-such-slot")],
  ];
  for (const [what, change] of cases) {
    assert.throws(() => applyDelta(base, tampered(delta, change)), (err: unknown) => {
      assert.ok(err instanceof DeltaMismatch, `${what}: ${String(err)}`);
      assert.match(err.message, new RegExp(what));
      return true;
    });
  }
  assert.ok(equals(SanctumSnapshotSchema, applyDelta(base, delta), held(2)), "the untampered delta applies");
});

test("a list or map in `set` replaces the held one whole, not merged", () => {
  const base = create(SanctumSnapshotSchema, {
    runId: "r",
    version: 1n,
    envs: {
      envs: [
        { envId: 0, seeds: { r0c0: { slotId: "r0c0" }, r0c1: { slotId: "r0c1" } } },
        { envId: 1 },
      ],
    },
  });
  const want = create(SanctumSnapshotSchema, {
    runId: "r",
    version: 2n,
    envs: { envs: [{ envId: 7, seeds: { r1c0: { slotId: "r1c0" } } }] },
  });
  const delta = create(SnapshotDeltaSchema, {
    runId: "r",
    baseVersion: 1n,
    version: 2n,
    fullBytes: BigInt(toBinary(SanctumSnapshotSchema, want).length),
    set: { version: 2n },
    envs: {
      set: { envs: [{ envId: 7, seeds: { r0c0: { slotId: "r0c0" } } }] },
      envs: [{ index: 0, set: { seeds: { r1c0: { slotId: "r1c0" } } } }],
    },
  });
  assert.ok(equals(SanctumSnapshotSchema, applyDelta(base, delta), want));
  assert.equal(base.envs!.envs.length, 2, "the held snapshot was modified");
});
