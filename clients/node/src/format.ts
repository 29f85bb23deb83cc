// Text rendering of snapshots and run lists. Pure functions over the generated messages
// (one schema: no mirror types), so they are easy to test and to reuse.
import type { Heartbeat, RunSummary, SanctumSnapshot } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import { HealthStatus, HealthStatusSchema, LivenessSchema, RunStatus, RunStatusSchema } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import type { PPOUpdatePayload } from "./gen/esper/telemetry/v1/telemetry_pb.js";
import { ActionHeadSchema, Severity } from "./gen/esper/telemetry/v1/telemetry_pb.js";
import type { DescEnum } from "@bufbuild/protobuf";

/** Shown for a value that was not measured: unknown is not zero. */
export const ABSENT = "—";

/** Longest server-sent text (run id, task, producer) printed in one field; longer text ends in "…". */
export const TEXT_LIMIT = 80;
/** Control characters (escape sequences, bell, newlines inside a field) and bidi overrides. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text from the wire made safe to print: at most `limit` characters, no control characters. */
export function clip(text: string, limit: number = TEXT_LIMIT): string {
  let out = text;
  if (text.length > limit) {
    // By code points (an emoji is two UTF-16 units); a huge string is cut before it is split.
    const points = Array.from(text.slice(0, 2 * limit + 1));
    if (points.length > limit) out = points.slice(0, limit - 1).join("") + "…";
  }
  return out.replace(UNPRINTABLE, "\ufffd");
}

/** `digits` decimals; NaN and ±inf named, magnitudes from 1e15 on in exponent form. */
export function fixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+inf" : "-inf";
  if (Math.abs(value) >= 1e15) return value.toPrecision(3);
  return value.toFixed(digits);
}

/** Enum value name without its type prefix, lower case: ACTION_HEAD_ALPHA_TARGET -> alpha_target;
 * "?N" for a value this client does not know (a newer or hostile server). */
export function shortName(schema: DescEnum, value: number): string {
  const v = schema.value[value];
  if (!v) return `?${value}`;
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
  return pct === undefined ? `Mem:${ABSENT}` : `Mem:${fixed(pct, 0)}%`;
}

/** Per-head entropy of a PPO update, in the order the trainer reported the heads: "op=1.23 slot=0.98 ...". */
export function formatHeads(update: PPOUpdatePayload | undefined): string {
  if (!update || update.heads.length === 0) return `heads=${ABSENT}`;
  return update.heads.map((h) => `${shortName(ActionHeadSchema, h.head)}=${fixed(h.entropy, 2)}`).join(" ");
}

/**
 * Sanctum's health verdict as it sent it (this client keeps no thresholds): "health=ok",
 * "health=warmup", or the worst severity and the firing rules, worst first:
 * "health=critical:exploding_gradients,entropy_collapse(blueprint)"; "health=—" before any.
 */
export function formatHealth(s: SanctumSnapshot): string {
  const h = s.health;
  if (!h || h.status === HealthStatus.UNSPECIFIED) return `health=${ABSENT}`;
  if (h.findings.length === 0) return `health=${shortName(HealthStatusSchema, h.status)}`;
  const critical = h.findings.some((f) => f.severity >= Severity.ERROR);
  const rules = h.findings.slice(0, 6).map((f) => {
    const head = f.head ? `(${shortName(ActionHeadSchema, f.head)})` : "";
    return `${clip(f.ruleId, 40)}${head}`;
  });
  const more = h.findings.length > 6 ? `,+${h.findings.length - 6}` : "";
  return `health=${critical ? "critical" : "warning"}:${rules.join(",")}${more}`;
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
  return reason && status !== RunStatus.COMPLETED ? `${name} (${clip(reason, 80)})` : name;
}

/** "trimmed=envs:6497,event_log:200" when the server left parts of an oversized snapshot out. */
export function formatTrimmed(s: SanctumSnapshot): string | undefined {
  if (!s.trimmed) return undefined;
  const parts = s.trimmed.fields.slice(0, 12).map((f) => `${clip(f.field, 40)}:${f.omitted}`);
  return `trimmed=${parts.join(",") || ABSENT}`;
}

/** At most this many user metrics on a summary line; the rest are counted ("+3 more"). */
export const METRICS_SHOWN = 12;

/** A user metric's value in 4 significant digits ("0.125", "1.235e+21"); NaN and ±inf named. */
export function significant(value: number): string {
  if (!Number.isFinite(value)) return fixed(value, 0);
  return String(Number(value.toPrecision(4)));
}

/**
 * The run's own metrics (`run.log()`), "metrics=loss=0.125,eval_acc@B/env3=0.875" in the order
 * they were first logged, with "+N more" and "refused=N" (names over the server's cap) when
 * there are; undefined when the run logged none.
 */
export function formatMetrics(s: SanctumSnapshot): string | undefined {
  const section = s.metrics;
  if (!section || (section.metrics.length === 0 && section.refused === 0n)) return undefined;
  const parts = section.metrics.slice(0, METRICS_SHOWN).map((m) => {
    let where = clip(m.groupId, 40);
    if (m.envId !== undefined) where = where ? `${where}/env${m.envId}` : `env${m.envId}`;
    return `${clip(m.name, 40)}${where ? `@${where}` : ""}=${significant(m.value)}`;
  });
  const more = section.metrics.length - METRICS_SHOWN;
  if (more > 0) parts.push(`+${more} more`);
  const refused = section.refused > 0n ? ` refused=${section.refused}` : "";
  return `metrics=${parts.join(",") || ABSENT}${refused}`;
}

/**
 * One line per snapshot: run id, batch, the primary group's policy loss, sanctum's health
 * verdict (formatHealth), per-head entropy and
 * Mem:%, LIVE / SLOW / STALE, or COMPLETED / STOPPED / FAILED once the run ended (its silence
 * is then expected), the run's own metrics (formatMetrics), and what was left out when the
 * snapshot was over the server's size budget.
 */
export function summaryLine(s: SanctumSnapshot): string {
  const group = s.tamiyo?.groups[0];
  const update = group?.lastUpdate;
  const loss = update ? fixed(update.policyLoss, 4) : ABSENT;
  const status = s.run?.status ?? 0;
  const trimmed = formatTrimmed(s);
  const metrics = formatMetrics(s);
  return [
    `run=${clip(s.runId) || ABSENT}`,
    `v=${s.version}`,
    `batch=${s.run?.lastBatch?.batchIdx ?? 0n}`,
    `policy_loss=${loss}`,
    formatHealth(s),
    formatHeads(update),
    formatMem(group?.lastMeasured),
    isFinished(status) ? shortName(RunStatusSchema, status).toUpperCase() : formatLiveness(s.run?.liveness ?? 0),
    ...(metrics ? [metrics] : []),
    ...(trimmed ? [trimmed] : []),
  ].join(" ");
}

/** One line per run for `list`. */
export function runLine(r: RunSummary): string {
  const episodes = r.totalEpisodes > 0n ? `${r.episodesCompleted}/${r.totalEpisodes}` : `${r.episodesCompleted}`;
  return [
    clip(r.runId),
    formatStatus(r.status, r.statusReason),
    formatLiveness(r.liveness),
    `task=${clip(r.task) || ABSENT}`,
    `envs=${r.nEnvs}`,
    `episodes=${episodes}`,
    `events=${r.eventsApplied}`,
  ].join("\t");
}

/** One line per heartbeat (`watch --heartbeats`). */
export function heartbeatLine(hb: Heartbeat): string {
  return `heartbeat v=${hb.version} ${formatLiveness(hb.liveness)} last_event=${fixed(hb.secondsSinceLastEvent, 1)}s`;
}

/** "ppo_update.kl_divergence group=A env=3" (group and env only when the series has them). */
export function seriesName(key: { name: string; groupId: string; envId?: number } | undefined): string {
  if (key === undefined) return "?";
  let out = clip(key.name, 200);
  if (key.groupId) out += ` group=${clip(key.groupId, 100)}`;
  if (key.envId !== undefined) out += ` env=${key.envId}`;
  return out;
}

/** One point: step, ISO time, value (NaN and infinities spelled out). */
export function seriesLine(step: bigint, time: number, value: number): string {
  const when = Number.isFinite(time) ? new Date(time * 1000).toISOString() : "—";
  return `${step}\t${when}\t${value}`;
}
