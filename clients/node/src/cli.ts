#!/usr/bin/env node
// esper-sanctum-node: list sanctum runs, or print one summary line (or JSON) per live snapshot.
// Every failure ends with one clear line on stderr and a non-zero exit, never a stack trace.
import { Code, ConnectError } from "@connectrpc/connect";
import { parseOptions, UsageError, USAGE, type Options } from "./args.js";
import { connect, type SanctumClient } from "./client.js";
import { toJson, toJsonString } from "@bufbuild/protobuf";
import { DeltaMismatch } from "./delta.js";
import { Failover } from "./failover.js";
import { Follower, MAX_MISMATCHES, WireStats } from "./follow.js";
import { HeartbeatSchema, SanctumSnapshotSchema } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import {
  clip,
  formatStatus,
  heartbeatLine,
  isFinished,
  runLine,
  seriesLine,
  seriesName,
  summaryLine,
} from "./format.js";

const PROG = "esper-sanctum-node";
const EXIT_RPC = 1;
const EXIT_USAGE = 2;

class TimeoutError extends Error {}

/** Runs asked per ListRuns page (the server caps it and may end a page early). */
const LIST_PAGE = 1000;

/** Every run, most recently active first, a page at a time. */
async function list(client: SanctumClient, opts: Options): Promise<void> {
  let pageToken = "";
  let printed = 0;
  do {
    const res = await client.listRuns({ pageSize: LIST_PAGE, pageToken }, { timeoutMs: opts.timeoutS * 1000 });
    for (const run of res.runs) console.log(runLine(run));
    printed += res.runs.length;
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  if (printed === 0) console.error("no runs yet");
}

/** A metric of a run over the whole run, downsampled by the server; no metric: the list. */
async function series(client: SanctumClient, opts: Options): Promise<void> {
  const call = { timeoutMs: opts.timeoutS * 1000 };
  if (!opts.metric) {
    const res = await client.series({ runId: opts.run }, call);
    for (const s of res.series) console.log(`${seriesName(s.key)}\t${s.totalPoints} points`);
    if (res.series.length === 0) console.error(`run ${opts.run} has no series yet`);
    return;
  }
  const res = await client.series(
    {
      runId: opts.run,
      series: [{ name: opts.metric, groupId: opts.group, envId: opts.env }],
      maxPoints: opts.points,
    },
    call,
  );
  if (res.series.length === 0) throw new UsageError(`run ${opts.run} has no series '${opts.metric}' (\`series ${opts.run}\` lists them)`);
  for (const s of res.series) {
    const how = s.downsampled ? `, downsampled from ${s.pointsInRange} (min/max per bucket)` : "";
    console.log(`# ${opts.run} ${seriesName(s.key)}: ${s.values.length} of ${s.totalPoints} points${how}`);
    for (let i = 0; i < s.values.length; i++) console.log(seriesLine(s.steps[i], s.times[i], s.values[i]));
  }
}

/** A watch's progress, kept across resubscriptions and fail-overs. */
interface WatchState {
  printed: number;
  follower: Follower;
}

async function watch(client: SanctumClient, opts: Options, interrupt: AbortSignal,
                     state: WatchState): Promise<void> {
  let skip = "";
  for (;;) {
    const asked = state.follower.incremental;
    const mismatch = await watchStream(client, opts, interrupt, state, skip);
    if (mismatch === undefined) return;
    if (!asked) {
      // Deltas nobody asked for: resubscribing would get the same again.
      throw new Error(`sanctum at ${opts.server} sent a delta on a stream that asked for full snapshots: ${mismatch.error.message}`);
    }
    // The new stream starts with a full snapshot, maybe of the version already printed.
    skip = mismatch.shown;
    const how = state.follower.incremental
      ? "resubscribing for a full snapshot"
      : `${MAX_MISMATCHES} deltas in a row did not apply: asking for full snapshots only`;
    console.error(`${PROG}: ${mismatch.error.message}; ${how}`);
  }
}

/** One WatchSnapshots stream; returns the mismatch that ended it when a delta did not apply. */
async function watchStream(client: SanctumClient, opts: Options, interrupt: AbortSignal,
                           state: WatchState, skip: string
): Promise<{ error: DeltaMismatch; shown: string } | undefined> {
  const ctrl = new AbortController();
  const stop = () => ctrl.abort();
  interrupt.addEventListener("abort", stop);
  // Until the server first answers, a dead or black-holed address must not hang us.
  let timedOut = false;
  const firstAnswer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, opts.timeoutS * 1000);
  let printed = state.printed;
  let finished = false;
  let shown = skip;
  const follower = state.follower;
  follower.restart();
  try {
    const request = { runId: opts.run, incremental: follower.incremental, compressed: opts.compressed };
    const stream = client.watchSnapshots(request, { signal: ctrl.signal });
    for await (const msg of stream) {
      clearTimeout(firstAnswer);
      if (msg.kind.case === "heartbeat") {
        if (opts.heartbeats) {
          const hb = msg.kind.value;
          console.log(opts.json ? JSON.stringify({ heartbeat: toJson(HeartbeatSchema, hb) }) : heartbeatLine(hb));
        }
        continue;
      }
      let snap;
      try {
        snap = follower.next(msg);
      } catch (err) {
        if (err instanceof DeltaMismatch) return { error: err, shown };
        throw err;
      }
      if (snap === undefined) continue;
      const key = `${snap.runId}@${snap.version}`;
      if (key === skip) continue;
      skip = "";
      shown = key;
      console.log(opts.json ? toJsonString(SanctumSnapshotSchema, snap) : summaryLine(snap));
      printed += 1;
      state.printed = printed;
      if (opts.count !== undefined && printed >= opts.count) break;
      const status = snap.run?.status ?? 0;
      if (isFinished(status)) {
        // Only heartbeats follow a run that ended: waiting for more would hang forever.
        const how = formatStatus(status, snap.run?.completion?.status ?? "");
        console.error(`run ${snap.runId} has ended (${how}): no more snapshots will come`);
        finished = true;
        break;
      }
    }
  } catch (err) {
    if (timedOut) throw new TimeoutError(`no answer from sanctum at ${opts.server} within ${opts.timeoutS} s`);
    if (interrupt.aborted && err instanceof ConnectError && err.code === Code.Canceled) return undefined;
    throw err;
  } finally {
    clearTimeout(firstAnswer);
    interrupt.removeEventListener("abort", stop);
    ctrl.abort(); // ends the call when we left the stream early
  }
  if (opts.count !== undefined && printed < opts.count && !interrupt.aborted && !finished) {
    throw new TimeoutError(`the server ended the stream after ${printed} of ${opts.count} snapshots`);
  }
  return undefined;
}

/** Transport failures: another replica may answer. */
function retryable(err: unknown): boolean {
  return (err instanceof ConnectError && err.code === Code.Unavailable) || err instanceof TimeoutError;
}

/** Run the command against the first replica of --server that answers; a watch whose
 * replica fails moves on to the next and goes on (its first message is a full snapshot). */
async function withFailover(opts: Options, interrupt: AbortSignal, state: WatchState): Promise<void> {
  const replicas = new Failover(opts.server);
  for (;;) {
    const one = { ...opts, server: replicas.current };
    try {
      const client = connect(one);
      if (opts.command === "list") await list(client, one);
      else if (opts.command === "series") await series(client, one);
      else await watch(client, one, interrupt, state);
      return;
    } catch (err) {
      if (interrupt.aborted || replicas.servers.length === 1 || !retryable(err) || replicas.failed()) throw err;
      console.error(`${PROG}: ${describeError(err, one.server)}; trying ${replicas.current}`);
    }
  }
}

/** One line for the user: what failed and, for the usual causes, what to do. */
export function describeError(err: unknown, server: string): string {
  if (err instanceof ConnectError) {
    const detail = clip(err.rawMessage, 300) || Code[err.code];
    switch (err.code) {
      case Code.Unavailable:
        return `cannot reach sanctum at ${server}: ${detail}`;
      case Code.Unauthenticated:
        return `sanctum at ${server} refused the credentials: ${detail} (give --token or set ESPER_TOKEN)`;
      case Code.DeadlineExceeded:
        return `no answer from sanctum at ${server} in time: ${detail}`;
      default:
        return `sanctum at ${server} answered ${Code[err.code]}: ${detail}`;
    }
  }
  if (err instanceof TimeoutError) return err.message;
  if (err instanceof Error) return `${err.message}`;
  return String(err);
}

export async function main(argv: string[]): Promise<number> {
  let opts: Options | null;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${PROG}: ${err.message}\n(run with --help for usage)`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (opts === null) {
    console.log(USAGE);
    return 0;
  }
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const stats = opts.stats ? new WireStats() : undefined;
  const state: WatchState = { printed: 0, follower: new Follower(!opts.full, stats) };
  try {
    await withFailover(opts, interrupt.signal, state);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${PROG}: ${err.message}`);
      return EXIT_USAGE;
    }
    console.error(`${PROG}: ${describeError(err, opts.server)}`);
    return EXIT_RPC;
  } finally {
    if (stats && opts.command === "watch") console.error(stats.line());
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${PROG}: internal error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT_RPC);
  },
);
