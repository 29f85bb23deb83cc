// The sanctum client: Connect's gRPC transport (HTTP/2, the gRPC protocol, so it talks
// to the Python grpcio server) with the bearer token added to every call.
import { readFileSync } from "node:fs";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SanctumService } from "./gen/esper/sanctum/v2/sanctum_pb.js";
import { baseUrl } from "./args.js";

export type SanctumClient = Client<typeof SanctumService>;

export interface ConnectOptions {
  server: string;
  token?: string;
  tlsCa?: string;
}

/** Clients ping every 20 s when idle; sanctum permits pings every >= 10 s (esper_common.channel). */
const PING_INTERVAL_MS = 20_000;
/** sanctum's own limit; larger snapshots fail loudly instead of being cut. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return await next(req);
  };
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read --tls-ca ${path}: ${(err as Error).message}`);
  }
}

export function connect(opts: ConnectOptions): SanctumClient {
  const tls = opts.tlsCa !== undefined;
  const transport = createGrpcTransport({
    baseUrl: baseUrl(opts.server, tls),
    interceptors: opts.token ? [bearer(opts.token)] : [],
    pingIntervalMs: PING_INTERVAL_MS,
    readMaxBytes: MAX_MESSAGE_BYTES,
    nodeOptions: tls ? { ca: readCa(opts.tlsCa!) } : undefined,
  });
  return createClient(SanctumService, transport);
}
