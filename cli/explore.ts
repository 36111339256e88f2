/**
 * `deno task explore`: serves the DiT explorer (`explore/`) on 127.0.0.1 and prints its address. The page runs
 * the shipped models in the browser with ONNX Runtime Web; everything comes from this repository and its
 * `node_modules`, so it works with no network. Ctrl-C stops it.
 *
 * @module
 */
import { serveExplorer } from "../explore/server.ts";

const USAGE = `Usage: deno task explore [--port N]

Serves the DiT explorer on http://127.0.0.1 and prints its address.

  --port N   the port, 1-65535 (default: a free one)
  --help     show this text`;

/**
 * The port from the command line: 0 (a free one) when none is given.
 * @throws a one-line `Error` naming the bad argument and what is accepted.
 */
export function parsePort(args: readonly string[]): number {
  let port = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = arg === "--port" ? args[++i] : arg.startsWith("--port=") ? arg.slice(7) : undefined;
    if (value === undefined) {
      if (arg === "--port") throw new Error("--port needs a value; expected a port from 1 to 65535");
      throw new Error(`unknown argument ${JSON.stringify(arg)}; expected --port N or --help`);
    }
    if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
      throw new Error(`--port is ${JSON.stringify(value)}; expected a port from 1 to 65535`);
    }
    port = Number(value);
  }
  return port;
}

if (import.meta.main) {
  if (Deno.args.includes("--help")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  let port: number;
  try {
    port = parsePort(Deno.args);
  } catch (error) {
    console.error(`explore: ${(error as Error).message}`);
    Deno.exit(2);
  }
  try {
    const explorer = await serveExplorer(port);
    console.log(`DiT explorer: ${explorer.url} (Ctrl-C stops it)`);
    Deno.addSignalListener("SIGINT", async () => {
      await explorer.shutdown();
      Deno.exit(0);
    });
  } catch (error) {
    console.error(`explore: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
