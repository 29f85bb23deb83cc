// Command-line arguments of the Node client: parsed and validated in one place so that
// bad input ends with a usage message, never a stack trace.
import { parseArgs } from "node:util";

export type Command = "list" | "watch" | "series";

export interface Options {
  command: Command;
  /** HOST:PORT or a full http(s):// URL; several replicas comma-separated (fail-over). */
  server: string;
  token?: string;
  tlsCa?: string;
  run: string;
  /** Snapshots to print before exiting; undefined = until interrupted. */
  count?: number;
  /** Seconds to wait for the server's first answer. */
  timeoutS: number;
  heartbeats: boolean;
  /** watch: ask for whole snapshots on every update instead of deltas after the first. */
  full: boolean;
  /** watch: ask the server to gzip the stream (for slow links; it costs the server CPU). */
  compressed: boolean;
  /** watch: print each snapshot as one line of protobuf JSON instead of a summary line. */
  json: boolean;
  /** watch: at the end, print to stderr how many updates came and their bytes, by kind. */
  stats: boolean;
  /** series: the metric ("ppo_update.kl_divergence"), points wanted, group and env. */
  metric: string;
  points: number;
  group?: string;
  env?: number;
}

export class UsageError extends Error {}

export const USAGE = `usage: esper-sanctum-node --server HOST:PORT[,HOST:PORT...] [options] [list|watch|series RUN METRIC]

Lists sanctum runs, or prints one summary line per live snapshot of a run:
  run id, batch, policy loss, per-head entropy, CUDA memory (Mem:NN% or Mem:— when not measured).

commands:
  watch              subscribe to WatchSnapshots (default)
  list               print the runs sanctum knows (ListRuns)
  series RUN METRIC  print a metric of a run over the whole run (Series RPC), downsampled by
                     the server to --points (min and max per bucket: peaks survive), one
                     "step time value" line per point; METRIC as "ppo_update.kl_divergence"
                     ("prefix*" for several); \`series RUN\` lists the run's series

options:
  --server HOST:PORT sanctum address (required; e.g. localhost:50051); several
                     replicas of a cluster, comma-separated, are tried in turn
  --token T          bearer token (default: $ESPER_TOKEN)
  --tls-ca PATH      connect over TLS, trusting this CA certificate (PEM)
  --run ID           run to watch (default: the most recently active run)
  --count N          exit after N snapshots (default: run until Ctrl-C)
  --timeout S        seconds to wait for the server's first answer (default: 10)
  --heartbeats       also print heartbeats (they never count towards --count)
  --full             watch: ask for a whole snapshot on every update (default: a whole
                     one first, then only what changed, applied here to the one held)
  --compressed       watch: ask the server to gzip the stream (for slow links such as
                     SSH tunnels; it costs the server CPU per update and viewer)
  --json             watch: print each snapshot as one line of protobuf JSON (the whole
                     state, rebuilt from the deltas) instead of the summary line; with
                     --heartbeats, a heartbeat is a line {"heartbeat": {...}}
  --stats            watch: at the end, print to stderr the updates received and their
                     bytes (protobuf messages), full snapshots and deltas apart
  --points N         series: at most N points per series (default 1000)
  --group G          series: only policy group G (default: every group)
  --env E            series: only env E (default: every env)
  -h, --help         show this help`;

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

/** Parse argv (without node and the script path). Returns null when help was asked for. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        server: { type: "string" },
        token: { type: "string" },
        "tls-ca": { type: "string" },
        run: { type: "string" },
        count: { type: "string" },
        timeout: { type: "string" },
        heartbeats: { type: "boolean", default: false },
        full: { type: "boolean", default: false },
        compressed: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        stats: { type: "boolean", default: false },
        points: { type: "string" },
        group: { type: "string" },
        env: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  const command = (positionals[0] ?? "watch") as Command;
  if (command !== "list" && command !== "watch" && command !== "series") {
    throw new UsageError(`unknown command '${positionals[0]}' (expected list, watch or series)`);
  }
  const most = command === "series" ? 3 : 1;
  if (positionals.length > most) throw new UsageError(`too many arguments: ${positionals.join(" ")}`);
  if (command === "series" && positionals.length < 2) {
    throw new UsageError("series needs a run id: series RUN METRIC");
  }
  const envId = values.env === undefined ? undefined : Number(values.env);
  if (envId !== undefined && (!Number.isInteger(envId) || envId < 0)) {
    throw new UsageError(`--env must be an env id (0, 1, ...), got '${values.env}'`);
  }
  if (!values.server) throw new UsageError("--server HOST:PORT is required");
  const timeoutS = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    throw new UsageError(`--timeout must be a positive number of seconds, got '${values.timeout}'`);
  }
  return {
    command,
    server: values.server,
    token: values.token ?? (env.ESPER_TOKEN || undefined),
    tlsCa: values["tls-ca"],
    run: command === "series" ? positionals[1] : (values.run ?? ""),
    count: positiveInt("--count", values.count),
    timeoutS,
    heartbeats: values.heartbeats ?? false,
    full: values.full ?? false,
    compressed: values.compressed ?? false,
    json: values.json ?? false,
    stats: values.stats ?? false,
    metric: command === "series" ? (positionals[2] ?? "") : "",
    points: positiveInt("--points", values.points) ?? 1000,
    group: values.group,
    env: envId,
  };
}

/** The base URL for the gRPC transport: http://HOST:PORT, or https:// with TLS. */
export function baseUrl(server: string, tls: boolean): string {
  if (/^https?:\/\//.test(server)) return server;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):\d{1,5}$/.test(server)) {
    throw new UsageError(`--server must be HOST:PORT (e.g. localhost:50051), got '${server}'`);
  }
  return `${tls ? "https" : "http"}://${server}`;
}
