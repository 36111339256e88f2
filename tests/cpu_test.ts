import assert from "node:assert/strict";
import { cpuInfo, describeCpu } from "../lib/cpu.ts";

Deno.test("cpuInfo reads the model and the int8-relevant features from /proc/cpuinfo's text", () => {
  const intel = cpuInfo(
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 avx512f avx512bw " +
      "avx512_vnni avx_vnni amx_int8 amx_tile\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n",
  );
  assert.equal(intel.model, "Intel(R) Xeon(R) Processor");
  assert.deepEqual(intel.features, ["AVX2", "AVX-512", "AVX-512 VNNI", "AVX-VNNI", "AMX-INT8"]);
  assert.ok(intel.vnni);
  const avx2 = cpuInfo("model name\t: AMD EPYC 7B12\nflags\t\t: sse4_2 avx avx2 fma\n");
  assert.deepEqual([avx2.features, avx2.vnni], [["AVX2"], false]);
  assert.match(describeCpu(avx2), /^AMD EPYC 7B12, \d+ cores, AVX2, no VNNI$/);
  const unknown = cpuInfo("");
  assert.deepEqual([unknown.model, unknown.features, unknown.vnni], ["unknown CPU", [], false]);
  assert.match(describeCpu(unknown), /no AVX2, no VNNI$/);
});
