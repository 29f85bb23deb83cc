// Applying a SnapshotDelta to the snapshot the client holds, as sanctum.proto says (the same
// steps as esper_common/delta.py). The held snapshot is never modified: the result is a new
// message. A delta that does not fit what is held (another run or base version, an index or
// a count out of range, a result whose size is not the one the server stated) throws
// DeltaMismatch, and the caller resubscribes for a full snapshot; nothing is applied silently.
import { clone, create, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import {
  DecisionSectionSchema,
  EnvSectionSchema,
  EnvStateSchema,
  EventLogSectionSchema,
  PolicyGroupSchema,
  RunSectionSchema,
  SanctumSnapshotSchema,
  type SanctumSnapshot,
  type SnapshotDelta,
} from "./gen/esper/sanctum/v2/sanctum_pb.js";

/** The delta does not apply to the held snapshot: resubscribe for a full one. */
export class DeltaMismatch extends Error {}

/** Clear the fields numbered `cleared` of `dst`, then replace every field set in `set` whole
 * (a message copied over, not merged; a list or map replaced). */
function patchFields<D extends DescMessage>(schema: D, dst: Message, set: Message | undefined,
                                            cleared: readonly number[]): void {
  const target = reflect(schema, dst as never);
  for (const number of cleared) {
    const field = target.findNumber(number);
    if (field === undefined) throw new DeltaMismatch(`no field ${number} in ${schema.name}`);
    target.clear(field);
  }
  if (set === undefined) return;
  const source = reflect(schema, set as never);
  for (const field of source.sortedFields) {
    if (source.isSet(field)) target.set(field, source.get(field));
  }
}

/** Remove the first `dropped` items of `held`, then append `items`: the new list. */
function dropAppend<T>(held: readonly T[], dropped: number, items: readonly T[], what: string): T[] {
  if (dropped > held.length) throw new DeltaMismatch(`${what}: ${dropped} to drop, ${held.length} held`);
  return held.slice(dropped).concat(items);
}

function at<T>(list: readonly T[], index: number, what: string): T {
  if (index >= list.length) throw new DeltaMismatch(`${what} ${index} of ${list.length}`);
  return list[index];
}

function applyEnvs(out: SanctumSnapshot, patch: NonNullable<SnapshotDelta["envs"]>): void {
  out.envs ??= create(EnvSectionSchema);
  patchFields(EnvSectionSchema, out.envs, patch.set, patch.cleared);
  for (const e of patch.envs) {
    const env = at(out.envs.envs, e.index, "env");
    patchFields(EnvStateSchema, env, e.set, e.cleared);
    // An own property even for a key such as "__proto__": a seed id is any string sent.
    for (const [key, seed] of Object.entries(e.seedsSet)) {
      Object.defineProperty(env.seeds, key, { value: seed, enumerable: true, writable: true, configurable: true });
    }
    for (const key of e.seedsRemoved) {
      if (!Object.hasOwn(env.seeds, key)) throw new DeltaMismatch(`env ${e.index} has no seed '${key}' to remove`);
      delete env.seeds[key];
    }
  }
}

function apply(out: SanctumSnapshot, delta: SnapshotDelta): void {
  patchFields(SanctumSnapshotSchema, out, delta.set, delta.cleared);
  if (delta.run !== undefined) {
    out.run ??= create(RunSectionSchema);
    patchFields(RunSectionSchema, out.run, delta.run.set, delta.run.cleared);
  }
  for (const g of delta.groups) {
    patchFields(PolicyGroupSchema, at(out.tamiyo?.groups ?? [], g.index, "group"), g.set, g.cleared);
  }
  if (delta.envs !== undefined) applyEnvs(out, delta.envs);
  for (const s of delta.series) {
    const series = at(out.histories?.series ?? [], s.index, "series");
    series.values = dropAppend(series.values, s.dropped, s.values, "series");
  }
  if (delta.eventLog !== undefined) {
    out.eventLog ??= create(EventLogSectionSchema);
    out.eventLog.entries = dropAppend(out.eventLog.entries, delta.eventLog.dropped, delta.eventLog.entries, "event_log");
  }
  if (delta.decisions !== undefined) {
    out.decisions ??= create(DecisionSectionSchema);
    out.decisions.recent = dropAppend(out.decisions.recent, delta.decisions.dropped, delta.decisions.recent, "decisions");
  }
}

/** `held` with `delta` applied, as a new snapshot (`held` is left intact); DeltaMismatch when
 * the delta is not for `held` or its result is not the size the server stated. */
export function applyDelta(held: SanctumSnapshot, delta: SnapshotDelta): SanctumSnapshot {
  if (held.runId !== delta.runId || held.version !== delta.baseVersion) {
    throw new DeltaMismatch(
      `delta ${delta.runId}@${delta.baseVersion}->${delta.version} does not apply to ${held.runId}@${held.version}`,
    );
  }
  const out = clone(SanctumSnapshotSchema, held);
  try {
    apply(out, delta);
  } catch (err) {
    if (err instanceof DeltaMismatch) throw err;
    throw new DeltaMismatch(`delta does not apply: ${(err as Error).message}`);
  }
  const size = toBinary(SanctumSnapshotSchema, out).length;
  if (out.version !== delta.version || BigInt(size) !== delta.fullBytes) {
    throw new DeltaMismatch(
      `delta result is ${size} bytes at version ${out.version}; the server said ${delta.fullBytes} at ${delta.version}`,
    );
  }
  return out;
}
