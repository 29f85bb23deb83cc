// Unit tests of the text rendering (node:test, no extra dependencies): `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { clip, fixed, formatHealth, formatMem, formatMetrics, METRICS_SHOWN, heartbeatLine, isFinished, memoryUsagePercent, runLine, summaryLine } from "./format.js";
import {
  HealthFindingSchema,
  HealthSectionSchema,
  HealthStatus,
  MetricsSectionSchema,
  UserMetricSchema,
  HeartbeatSchema,
  Liveness,
  PolicyGroupSchema,
  RunSectionSchema,
  RunStatus,
  RunSummarySchema,
  SanctumSnapshotSchema,
  SnapshotTrimSchema,
  TamiyoSectionSchema,
  TrimmedFieldSchema,
} from "./gen/esper/sanctum/v2/sanctum_pb.js";
import {
  ActionHead,
  BatchEpochCompletedPayloadSchema,
  Severity,
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
  assert.equal(summaryLine(snap), "run=r1 v=7 batch=12 policy_loss=-0.0123 health=— op=1.23 alpha_curve=0.50 Mem:25% LIVE");
});

test("a snapshot before any PPO update shows dashes, not zeros", () => {
  const snap = create(SanctumSnapshotSchema, { runId: "r2", version: 1n });
  assert.equal(summaryLine(snap), "run=r2 v=1 batch=0 policy_loss=— health=— heads=— Mem:— —");
});

test("health renders sanctum's findings, computing nothing", () => {
  // Absurd metrics with an OK verdict stay OK: the client has no thresholds.
  const absurd = create(SanctumSnapshotSchema, {
    runId: "r1",
    tamiyo: create(TamiyoSectionSchema, {
      groups: [create(PolicyGroupSchema, { lastUpdate: create(PPOUpdatePayloadSchema, { klDivergence: 50, explodingLayers: 9 }) })],
    }),
    health: create(HealthSectionSchema, { status: HealthStatus.OK }),
  });
  assert.equal(formatHealth(absurd), "health=ok");
  const found = create(SanctumSnapshotSchema, {
    health: create(HealthSectionSchema, {
      status: HealthStatus.CRITICAL,
      findings: [
        create(HealthFindingSchema, { ruleId: "exploding_gradients", severity: Severity.CRITICAL }),
        create(HealthFindingSchema, { ruleId: "entropy_collapse", severity: Severity.WARNING, head: ActionHead.BLUEPRINT }),
      ],
    }),
  });
  assert.equal(formatHealth(found), "health=critical:exploding_gradients,entropy_collapse(blueprint)");
  assert.equal(formatHealth(create(SanctumSnapshotSchema, { health: create(HealthSectionSchema, { status: HealthStatus.WARMUP }) })), "health=warmup");
  assert.equal(formatHealth(create(SanctumSnapshotSchema, {})), "health=—");
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
  assert.equal(summaryLine(done), "run=r1 v=3 batch=0 policy_loss=— health=— heads=— Mem:— FAILED");
  assert.equal(isFinished(RunStatus.RUNNING), false);
  assert.equal(isFinished(RunStatus.COMPLETED), true);
});

test("no value a snapshot can hold breaks a line: dashes, named non-finites, clipped text", () => {
  const huge = "x".repeat(1_000_000);
  const U64_MAX = 2n ** 64n - 1n;
  const group = create(PolicyGroupSchema, {
    lastUpdate: create(PPOUpdatePayloadSchema, {
      policyLoss: Number.NaN,
      heads: [
        create(HeadMetricsSchema, { head: 9999 as ActionHead, entropy: Number.POSITIVE_INFINITY }),
        create(HeadMetricsSchema, { head: ActionHead.OP, entropy: 1e308 }),
      ],
    }),
    lastMeasured: create(PPOUpdatePayloadSchema, { cudaMemoryAllocatedGb: 1e308, cudaMemoryReservedGb: 5e-324 }),
  });
  const snap = create(SanctumSnapshotSchema, {
    runId: "\u001b[2J\u0007" + huge, version: U64_MAX,
    run: create(RunSectionSchema, {
      liveness: 99 as Liveness, lastBatch: create(BatchEpochCompletedPayloadSchema, { batchIdx: U64_MAX }),
    }),
    tamiyo: create(TamiyoSectionSchema, { groups: [group] }),
  });
  const line = summaryLine(snap);
  assert.ok(line.length < 300, `line of ${line.length} chars`);
  assert.ok(!line.includes("\u001b") && !line.includes("\u0007"), "control characters printed");
  assert.match(line, /^run=\ufffd\[2J\ufffdx+… v=18446744073709551615 batch=18446744073709551615 policy_loss=NaN /);
  assert.match(line, / \?9999=\+inf op=1\.00e\+308 Mem:\+inf% \?99$/);
  // Absent sub-messages: nothing measured, nothing thrown.
  assert.equal(summaryLine(create(SanctumSnapshotSchema, {})), "run=— v=0 batch=0 policy_loss=— health=— heads=— Mem:— —");
  const bare = create(SanctumSnapshotSchema, {
    tamiyo: create(TamiyoSectionSchema, {
      groups: [create(PolicyGroupSchema, { lastUpdate: create(PPOUpdatePayloadSchema, {}) })],
    }),
  });
  assert.equal(summaryLine(bare), "run=— v=0 batch=0 policy_loss=0.0000 health=— heads=— Mem:— —");
});

test("hostile run summaries and heartbeats print one bounded line", () => {
  const run = create(RunSummarySchema, {
    runId: "r\n2", task: "t".repeat(100_000), status: 77 as RunStatus, liveness: -1 as Liveness,
    episodesCompleted: 2n ** 64n - 1n, totalEpisodes: 2n ** 64n - 1n, nEnvs: 4294967295,
  });
  const line = runLine(run);
  assert.ok(line.length < 300 && !line.includes("\n"), line.slice(0, 100));
  assert.match(line, /^r\ufffd2\t\?77\t\?-1\ttask=t+…\tenvs=4294967295\tepisodes=18446744073709551615\/18446744073709551615\tevents=0$/);
  const hb = create(HeartbeatSchema, { version: 1n, liveness: 42 as Liveness, secondsSinceLastEvent: Number.NaN });
  assert.equal(heartbeatLine(hb), "heartbeat v=1 ?42 last_event=NaNs");
  assert.equal(fixed(-1e300, 1), "-1.00e+300");
  assert.equal(fixed(Number.NEGATIVE_INFINITY, 1), "-inf");
  assert.equal(clip("ab\u202ec", 80), "ab\ufffdc");
  assert.equal(clip("😀".repeat(5), 3), "😀😀…");
});

test("a trimmed snapshot says what it left out", () => {
  const snap = create(SanctumSnapshotSchema, {
    runId: "big", version: 3n,
    trimmed: create(SnapshotTrimSchema, {
      budgetBytes: 1048576n, fullBytes: 9000000n,
      fields: [create(TrimmedFieldSchema, { field: "envs.envs", omitted: 6497n }),
        create(TrimmedFieldSchema, { field: "event_log.entries", omitted: 200n })],
    }),
  });
  assert.equal(summaryLine(snap), "run=big v=3 batch=0 policy_loss=— health=— heads=— Mem:— — trimmed=envs.envs:6497,event_log.entries:200");
});

test("the run's own metrics print as name=value, unknown is absent", () => {
  const snap = create(SanctumSnapshotSchema, {
    runId: "sdk", version: 2n,
    metrics: create(MetricsSectionSchema, {
      metrics: [create(UserMetricSchema, { name: "loss", value: 0.125, step: 420n, history: [1, 0.5, 0.125] }),
        create(UserMetricSchema, { name: "eval\nacc", groupId: "B", envId: 3, value: 123456.789 }),
        create(UserMetricSchema, { name: "nan", value: Number.NaN })],
      refused: 2n,
    }),
  });
  assert.equal(formatMetrics(snap), "metrics=loss=0.125,eval\ufffdacc@B/env3=123500,nan=NaN refused=2");
  assert.equal(summaryLine(snap),
    "run=sdk v=2 batch=0 policy_loss=— health=— heads=— Mem:— — metrics=loss=0.125,eval\ufffdacc@B/env3=123500,nan=NaN refused=2");
  // None logged: no field at all (not "metrics=0").
  assert.equal(formatMetrics(create(SanctumSnapshotSchema, {})), undefined);
  const many = create(SanctumSnapshotSchema, {
    metrics: create(MetricsSectionSchema, {
      metrics: Array.from({ length: 256 }, (_, k) => create(UserMetricSchema, { name: "m".repeat(500) + k, value: k })),
    }),
  });
  const line = formatMetrics(many)!;
  assert.ok(line.endsWith(`,+${256 - METRICS_SHOWN} more`) && line.length < 1000, line.slice(-40));
});
