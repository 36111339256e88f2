/**
 * `deno task sample`: turn noise into pictures with a shipped DiT.
 *
 * The trained models (issue #3) and the sampler (issue #4) have not landed yet,
 * so for now this finds the model's card and says plainly when none is shipped.
 *
 * @module
 */
import { parseArgs } from "node:util";

const USAGE = `Usage: deno task sample [--model NAME|DIR] [--help]

Samples images from a DiT shipped in models/ (default: emoji).
  --model NAME|DIR  a model under models/ or a directory holding card.json
  --help            show this text`;

function main(args: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { model: { type: "string", default: "emoji" }, help: { type: "boolean", default: false } },
    }));
  } catch (error) {
    console.error(`sample: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const modelsDir = new URL("../models/", import.meta.url);
  const dir = values.model.includes("/") ? values.model : new URL(values.model, modelsDir).pathname;
  try {
    Deno.statSync(`${dir}/card.json`);
  } catch {
    const shipped = [...Deno.readDirSync(modelsDir)].filter((e) => e.isDirectory).map((e) => e.name);
    console.error(
      `sample: no model is shipped yet: ${dir}/card.json does not exist ` +
        `(models/ holds ${shipped.length ? shipped.join(", ") : "no models"}). ` +
        `The trained digits and emoji DiTs arrive with issue #3 and the sampler with issue #4; ` +
        `meanwhile the concept functions are ready: see README.md.`,
    );
    return 1;
  }
  console.error(`sample: found ${dir}/card.json, but the sampler has not landed yet (issue #4).`);
  return 1;
}

Deno.exit(main(Deno.args));
