/**
 * Which CPU a number was measured on. Machines of the same kind differ: some have AVX-512 with VNNI (and
 * AMX), some only AVX2, and ONNX Runtime picks different int8 kernels on each (see `quantize.ts`). Every
 * speed and quality measurement of the toolkit records {@link cpuInfo} beside it.
 *
 * @module
 */

/** The instruction-set extensions that decide how fast (and, for int8, how) a DiT step runs. */
export const CPU_FEATURES: Readonly<Record<string, string>> = {
  avx2: "AVX2",
  avx512f: "AVX-512",
  avx512_vnni: "AVX-512 VNNI",
  avx_vnni: "AVX-VNNI",
  amx_int8: "AMX-INT8",
};

/** A CPU as a measurement names it. */
export interface CpuInfo {
  /** The model name the kernel reports, e.g. `"AMD EPYC 9B14"`. */
  model: string;
  /** Logical cores this process may use. */
  cores: number;
  /** Which of {@link CPU_FEATURES} it has, by their display names. */
  features: string[];
  /** Whether it has a VNNI instruction (exact 32-bit int8 dot products). */
  vnni: boolean;
}

/**
 * The CPU this process runs on, from `/proc/cpuinfo` (Linux); on other systems the model and features read
 * as unknown.
 *
 * @param cpuinfo the text of `/proc/cpuinfo` (read when left out).
 *
 * @example An AVX2-only CPU
 * ```ts
 * import { cpuInfo } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const cpu = cpuInfo("model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n");
 * assert.deepEqual([cpu.model, cpu.features, cpu.vnni], ["AMD EPYC 7B13", ["AVX2"], false]);
 * ```
 */
export function cpuInfo(cpuinfo?: string): CpuInfo {
  let text = cpuinfo ?? "";
  if (cpuinfo === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/cpuinfo");
    } catch { /* not Linux: unknown */ }
  }
  const field = (name: string) => text.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1].trim();
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  const features = Object.entries(CPU_FEATURES).filter(([flag]) => flags.has(flag)).map(([, name]) => name);
  return {
    model: field("model name") ?? "unknown CPU",
    cores: navigator.hardwareConcurrency,
    features,
    vnni: flags.has("avx512_vnni") || flags.has("avx_vnni"),
  };
}

/**
 * One line naming a CPU and its features, for tables and cards.
 *
 * @example
 * ```ts
 * import { describeCpu } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const line = describeCpu({ model: "AMD EPYC", cores: 2, features: ["AVX2"], vnni: false });
 * assert.equal(line, "AMD EPYC, 2 cores, AVX2, no VNNI");
 * ```
 */
export function describeCpu(cpu: CpuInfo = cpuInfo()): string {
  const features = cpu.features.length > 0 ? cpu.features.join(", ") : "no AVX2";
  return `${cpu.model}, ${cpu.cores} cores, ${features}${cpu.vnni ? "" : ", no VNNI"}`;
}
