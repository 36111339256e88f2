/**
 * A headless Chromium driven over the DevTools protocol, just enough to check rendered notebooks (open a page,
 * wait for its Plotly figures, count those that drew marks, collect script errors, take a screenshot) and to
 * drive the explorer (evaluate in the page, wait for a state). Uses
 * Debian's `chromium` with every background download switched off.
 *
 * @module
 */

/** What {@link inspectPage} saw. */
export interface PageReport {
  /** Plotly figures on the page (our `plot()` outputs: `div[id^=dit-plot-]`). */
  figures: number;
  /** Figures whose SVG holds marks (heatmap images, lines, points, bars or images). */
  drawn: number;
  /** Script exceptions and console errors. */
  errors: string[];
  /** A PNG screenshot of the page, when asked for. */
  screenshot?: Uint8Array;
}

const FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--remote-debugging-port=0",
];

/** The path of Debian's chromium, or null when it is not installed. */
export function chromiumPath(): string | null {
  for (const path of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return null;
}

/** An open page in a headless Chromium: evaluate in it, click, screenshot; its script errors so far. */
export interface Page {
  /** Script exceptions and console errors, as they come. */
  errors: string[];
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value, JSON-serializable. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Evaluates `expression` every 250 ms until it is truthy, or throws after `timeoutMs` naming `what`. */
  waitFor(expression: string, what: string, timeoutMs: number): Promise<void>;
  /** A PNG screenshot of the whole page. */
  screenshot(): Promise<Uint8Array>;
}

/**
 * Starts a headless Chromium, opens `url` in it and hands the page to `use`; the browser and its profile are
 * gone when `use` settles. With `offline`, every host name but 127.0.0.1 fails to resolve, so a page that
 * reaches for the network fails the way it would with no network.
 */
export async function withPage<T>(
  url: string,
  use: (page: Page) => Promise<T>,
  options: { offline?: boolean } = {},
): Promise<T> {
  const profile = await Deno.makeTempDir({ prefix: "dit-chromium-" });
  const offline = options.offline ? ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"] : [];
  const browser = new Deno.Command(chromiumPath()!, {
    args: [...FLAGS, ...offline, `--user-data-dir=${profile}`, "--window-size=1200,2000", "about:blank"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const endpoint = await devtoolsEndpoint(browser.stderr);
    const cdp = await connect(endpoint);
    try {
      const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
      const errors: string[] = [];
      cdp.on(sessionId, (method, params) => {
        if (method === "Runtime.exceptionThrown") {
          errors.push(params.exceptionDetails?.exception?.description ?? "exception");
        }
        if (method === "Runtime.consoleAPICalled" && params.type === "error") {
          errors.push(
            params.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description).join(
              " ",
            ),
          );
        }
      });
      for (const domain of ["Runtime", "Page"]) await cdp.send(`${domain}.enable`, {}, sessionId);
      await cdp.send("Page.navigate", { url }, sessionId);
      const evaluate = async <V>(expression: string): Promise<V> => {
        const { result, exceptionDetails } = await cdp.send(
          "Runtime.evaluate",
          { expression, returnByValue: true, awaitPromise: true },
          sessionId,
        );
        if (exceptionDetails) {
          throw new Error(
            `${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`,
          );
        }
        return result.value as V;
      };
      return await use({
        errors,
        evaluate,
        async waitFor(expression, what, timeoutMs) {
          const deadline = Date.now() + timeoutMs;
          let last = "";
          while (true) {
            // while the page loads, the document may not be there yet: that is "not yet", not a failure
            const done = await evaluate(expression).catch((error) => void (last = ` (${error.message})`));
            if (done) return;
            if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last}`);
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        },
        async screenshot() {
          const { data } = await cdp.send("Page.captureScreenshot", {
            format: "png",
            captureBeyondViewport: true,
          }, sessionId);
          return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        },
      });
    } finally {
      cdp.close();
    }
  } finally {
    browser.kill();
    await browser.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** Opens `url`, waits up to `timeoutMs` for every figure to draw, and reports. */
export function inspectPage(
  url: string,
  options: { screenshot?: boolean; timeoutMs?: number } = {},
): Promise<PageReport> {
  return withPage(url, async (page) => {
    const count = `(() => {
      const figures = [...document.querySelectorAll("div[id^=dit-plot-]")];
      const marks = "g.heatmaplayer image, g.scatterlayer path.js-line, g.scatterlayer path.point, g.imagelayer image, g.barlayer path";
      return JSON.stringify({ figures: figures.length, drawn: figures.filter((f) => f.querySelector("svg.main-svg") && f.querySelector(marks)).length, ready: document.readyState });
    })()`;
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let state = { figures: 0, drawn: 0, ready: "" };
    while (Date.now() < deadline) {
      state = JSON.parse((await page.evaluate<string>(count)) ?? "{}");
      if (state.ready === "complete" && state.drawn === state.figures) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const report: PageReport = { figures: state.figures, drawn: state.drawn, errors: page.errors };
    if (options.screenshot) report.screenshot = await page.screenshot();
    return report;
  });
}

/** Chromium prints "DevTools listening on ws://…" on stderr once it is ready. */
async function devtoolsEndpoint(stderr: ReadableStream<Uint8Array<ArrayBuffer>>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`chromium exited before it was ready:\n${text}`);
    text += value;
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (match) {
      // keep draining stderr so chromium never blocks on a full pipe
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return match[1];
    }
  }
}

// deno-lint-ignore no-explicit-any
type Listener = (method: string, params: any) => void;

/** A minimal DevTools protocol client: numbered requests, replies matched by id, events by session. */
async function connect(endpoint: string) {
  const socket = new WebSocket(endpoint);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 1;
  // deno-lint-ignore no-explicit-any
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, Listener>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id)!;
      pending.delete(message.id);
      if (message.error) reject(new Error(`${message.error.message}`));
      else resolve(message.result);
    } else if (message.method) {
      listeners.get(message.sessionId)?.(message.method, message.params);
    }
  };
  return {
    // deno-lint-ignore no-explicit-any
    send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
      const id = next++;
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    on(sessionId: string, listener: Listener) {
      listeners.set(sessionId, listener);
    },
    close() {
      socket.close();
    },
  };
}
