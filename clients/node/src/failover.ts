// Several sanctum replicas in one --server (a:50051,b:50051): which one to talk to now, and
// moving to the next after a transport failure. Mirrors esper_common.channel.Failover.
import { UsageError } from "./args.js";

/** "a:1, b:2" -> ["a:1", "b:2"]; a UsageError when no address is left. */
export function splitServers(spec: string): string[] {
  const out = spec.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (out.length === 0) throw new UsageError(`no sanctum address in '${spec}' (want HOST:PORT[,HOST:PORT...])`);
  return out;
}

export class Failover {
  readonly servers: string[];
  private index = 0;
  private tried = 0;

  constructor(spec: string) {
    this.servers = splitServers(spec);
  }

  get current(): string {
    return this.servers[this.index];
  }

  /** Move to the next address; true once a whole round has failed (give up or back off). */
  failed(): boolean {
    this.index = (this.index + 1) % this.servers.length;
    this.tried += 1;
    if (this.tried >= this.servers.length) {
      this.tried = 0;
      return true;
    }
    return false;
  }

  succeeded(): void {
    this.tried = 0;
  }
}
