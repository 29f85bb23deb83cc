// Unit tests of the text rendering (node:test, no extra dependencies): `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { formatMem, isFinished, memoryUsagePercent, runLine, summaryLine } from "./format.js";
import {
  Liveness,
  PolicyGroupSchema,
  RunSectionSchema,
  RunStatus,
  RunSummarySchema,
  SanctumSnapshotSchema,
  TamiyoSectionSchema,
} from "./gen/esper/sanctum/v2/sanctum_pb.js";
import {
  ActionHead,
  BatchEpochCompletedPayloadSchema,
  HeadMetricsSchema,
  PPOUpdatePayloadSchema,
} from "./gen/esper/telemetry/v1/telemetry_pb.js";

test("memory percent is allocated/reserved when both are measured", () => {
  const measured = create(PPOUpdatePayloadSchema, { cudaMemoryAllocatedGb: 4.2, cudaMemoryReservedGb: 8.0 });
  assert.ok(Math.abs(memoryUsagePercent(measured)! - 52.5) < 1e-9);
  assert.match(formatMem(measured), /^Mem:5[23]%$/);
});

test("unmeasured memory is absent, never 0%", () => {
  assert.equal(formatMem(create(PPOUpdatePayloadSchema, {})), "Mem:—");
  assert.equal(formatMem(create(PPOUpdatePayloadSchema, { cudaMemoryAllocatedGb: 1 })), "Mem:—");
  assert.equal(formatMem(undefined), "Mem:—");
  // A measured zero reservation is a measurement (as in esper_common.derived).
  assert.equal(formatMem(create(PPOUpdatePayloadSchema, { cudaMemoryAllocatedGb: 0, cudaMemoryReservedGb: 0 })), "Mem:0%");
});

test("summary line carries run, batch, loss, per-head entropy and memory", () => {
  const group = create(PolicyGroupSchema, {
    lastUpdate: create(PPOUpdatePayloadSchema, {
      policyLoss: -0.01234,
      heads: [
        create(HeadMetricsSchema, { head: ActionHead.OP, entropy: 1.234 }),
        create(HeadMetricsSchema, { head: ActionHead.ALPHA_CURVE, entropy: 0.5 }),
      ],
    }),
    lastMeasured: create(PPOUpdatePayloadSchema, { cudaMemoryAllocatedGb: 1, cudaMemoryReservedGb: 4 }),
  });
  const snap = create(SanctumSnapshotSchema, {
    runId: "r1",
    version: 7n,
    run: create(RunSectionSchema, {
      liveness: Liveness.LIVE,
      lastBatch: create(BatchEpochCompletedPayloadSchema, { batchIdx: 12n }),
    }),
    tamiyo: create(TamiyoSectionSchema, { groups: [group] }),
  });
  assert.equal(summaryLine(snap), "run=r1 v=7 batch=12 policy_loss=-0.0123 op=1.23 alpha_curve=0.50 Mem:25% LIVE");
});

test("a snapshot before any PPO update shows dashes, not zeros", () => {
  const snap = create(SanctumSnapshotSchema, { runId: "r2", version: 1n });
  assert.equal(summaryLine(snap), "run=r2 v=1 batch=0 policy_loss=— heads=— Mem:— —");
});

test("run line", () => {
  const run = create(RunSummarySchema, {
    runId: "r1", task: "cifar10", status: RunStatus.RUNNING, liveness: Liveness.STALE,
    episodesCompleted: 8n, totalEpisodes: 100n, nEnvs: 4, eventsApplied: 321n,
  });
  assert.equal(runLine(run), "r1\trunning\tSTALE\ttask=cifar10\tenvs=4\tepisodes=8/100\tevents=321");
});

test("a run that ended early says so, with the reason, and is not completed", () => {
  const run = create(RunSummarySchema, {
    runId: "r1", task: "cifar10", status: RunStatus.STOPPED, statusReason: "interrupted",
    liveness: Liveness.STALE, episodesCompleted: 192n, totalEpisodes: 5000n, nEnvs: 4, eventsApplied: 9n,
  });
  assert.equal(runLine(run), "r1\tstopped (interrupted)\tSTALE\ttask=cifar10\tenvs=4\tepisodes=192/5000\tevents=9");
  const done = create(SanctumSnapshotSchema, {
    runId: "r1", version: 3n,
    run: create(RunSectionSchema, { status: RunStatus.FAILED, liveness: Liveness.STALE }),
  });
  assert.equal(summaryLine(done), "run=r1 v=3 batch=0 policy_loss=— heads=— Mem:— FAILED");
  assert.equal(isFinished(RunStatus.RUNNING), false);
  assert.equal(isFinished(RunStatus.COMPLETED), true);
});
