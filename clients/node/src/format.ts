// Text rendering of snapshots and run lists. Pure functions over the generated messages
// (one schema: no mirror types), so they are easy to test and to reuse.
import type { RunSummary, SanctumSnapshot } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import { LivenessSchema, RunStatus, RunStatusSchema } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import type { PPOUpdatePayload } from "./gen/esper/telemetry/v1/telemetry_pb.js";
import { ActionHeadSchema } from "./gen/esper/telemetry/v1/telemetry_pb.js";
import type { DescEnum } from "@bufbuild/protobuf";

/** Shown for a value that was not measured: unknown is not zero. */
export const ABSENT = "—";

/** Enum value name without its type prefix, lower case: ACTION_HEAD_ALPHA_TARGET -> alpha_target. */
export function shortName(schema: DescEnum, value: number): string {
  const v = schema.value[value];
  if (!v) return String(value);
  return v.localName.toLowerCase();
}

/**
 * CUDA memory in use, allocated / reserved × 100, as in esper_common.derived, from a policy
 * group's last measured values (PolicyGroup.lastMeasured).
 * undefined when either field is absent (a CPU run); 0 when reserved ≤ 0.
 */
export function memoryUsagePercent(measured: PPOUpdatePayload | undefined): number | undefined {
  const allocated = measured?.cudaMemoryAllocatedGb;
  const reserved = measured?.cudaMemoryReservedGb;
  if (allocated === undefined || reserved === undefined) return undefined;
  if (reserved <= 0) return 0;
  return (allocated / reserved) * 100;
}

export function formatMem(measured: PPOUpdatePayload | undefined): string {
  const pct = memoryUsagePercent(measured);
  return pct === undefined ? `Mem:${ABSENT}` : `Mem:${pct.toFixed(0)}%`;
}

/** Per-head entropy of a PPO update, in the order the trainer reported the heads: "op=1.23 slot=0.98 ...". */
export function formatHeads(update: PPOUpdatePayload | undefined): string {
  if (!update || update.heads.length === 0) return `heads=${ABSENT}`;
  return update.heads.map((h) => `${shortName(ActionHeadSchema, h.head)}=${h.entropy.toFixed(2)}`).join(" ");
}

/** LIVE / SLOW / STALE; "—" when the server did not say. */
export function formatLiveness(value: number): string {
  return value === 0 ? ABSENT : shortName(LivenessSchema, value).toUpperCase();
}

/** Whether the run ended (completed, stopped or failed): nothing more will come from its trainer. */
export function isFinished(status: number): boolean {
  return status === RunStatus.COMPLETED || status === RunStatus.STOPPED || status === RunStatus.FAILED;
}

/** "running", "stopped (interrupted)", "failed (error: ...)"; "—" when the server did not say. */
export function formatStatus(status: number, reason: string): string {
  if (status === 0) return ABSENT;
  const name = shortName(RunStatusSchema, status);
  return reason && status !== RunStatus.COMPLETED ? `${name} (${reason})` : name;
}

/**
 * One line per snapshot: run id, batch, the primary group's policy loss, per-head entropy and
 * Mem:%, and LIVE / SLOW / STALE, or COMPLETED / STOPPED / FAILED once the run ended (its
 * silence is then expected).
 */
export function summaryLine(s: SanctumSnapshot): string {
  const group = s.tamiyo?.groups[0];
  const update = group?.lastUpdate;
  const loss = update ? update.policyLoss.toFixed(4) : ABSENT;
  const status = s.run?.status ?? 0;
  return [
    `run=${s.runId || ABSENT}`,
    `v=${s.version}`,
    `batch=${s.run?.lastBatch?.batchIdx ?? 0n}`,
    `policy_loss=${loss}`,
    formatHeads(update),
    formatMem(group?.lastMeasured),
    isFinished(status) ? shortName(RunStatusSchema, status).toUpperCase() : formatLiveness(s.run?.liveness ?? 0),
  ].join(" ");
}

/** One line per run for `list`. */
export function runLine(r: RunSummary): string {
  const episodes = r.totalEpisodes > 0n ? `${r.episodesCompleted}/${r.totalEpisodes}` : `${r.episodesCompleted}`;
  return [
    r.runId,
    formatStatus(r.status, r.statusReason),
    formatLiveness(r.liveness),
    `task=${r.task || ABSENT}`,
    `envs=${r.nEnvs}`,
    `episodes=${episodes}`,
    `events=${r.eventsApplied}`,
  ].join("\t");
}
