// Command-line arguments of the Node client: parsed and validated in one place so that
// bad input ends with a usage message, never a stack trace.
import { parseArgs } from "node:util";

export type Command = "list" | "watch";

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
}

export class UsageError extends Error {}

export const USAGE = `usage: esper-sanctum-node --server HOST:PORT[,HOST:PORT...] [options] [list|watch]

Lists sanctum runs, or prints one summary line per live snapshot of a run:
  run id, batch, policy loss, per-head entropy, CUDA memory (Mem:NN% or Mem:— when not measured).

commands:
  watch              subscribe to WatchSnapshots (default)
  list               print the runs sanctum knows (ListRuns)

options:
  --server HOST:PORT sanctum address (required; e.g. localhost:50051); several
                     replicas of a cluster, comma-separated, are tried in turn
  --token T          bearer token (default: $ESPER_TOKEN)
  --tls-ca PATH      connect over TLS, trusting this CA certificate (PEM)
  --run ID           run to watch (default: the most recently active run)
  --count N          exit after N snapshots (default: run until Ctrl-C)
  --timeout S        seconds to wait for the server's first answer (default: 10)
  --heartbeats       also print heartbeats (they never count towards --count)
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
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length > 1) throw new UsageError(`one command expected, got: ${positionals.join(" ")}`);
  const command = (positionals[0] ?? "watch") as Command;
  if (command !== "list" && command !== "watch") {
    throw new UsageError(`unknown command '${positionals[0]}' (expected list or watch)`);
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
    run: values.run ?? "",
    count: positiveInt("--count", values.count),
    timeoutS,
    heartbeats: values.heartbeats ?? false,
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
