#!/usr/bin/env node
// Runs one of the state machines locally against a Lambda Invoke API (cargo lambda watch).
//
//   node statemachine/runner/cli.mjs sweep --input '{"dry_run": true}' [--lambda-endpoint URL]
//   node statemachine/runner/cli.mjs snapshot-completed --input-file event.json
//
// Prints the execution's output (or its error and cause) as JSON; exits 1 when it failed.
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { runStateMachine } from './local.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const name = args.shift();
const opt = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!name || !['sweep', 'snapshot-completed'].includes(name)) {
  console.error('usage: cli.mjs sweep|snapshot-completed [--input JSON | --input-file FILE] [--lambda-endpoint URL] [--retry-delay-ms N]');
  process.exit(2);
}
const input = opt('--input-file') ? JSON.parse(readFileSync(opt('--input-file'), 'utf8')) : JSON.parse(opt('--input') ?? '{}');
const endpoint = opt('--lambda-endpoint') ?? process.env.EBS_GENS_LAMBDA_ENDPOINT ?? 'http://127.0.0.1:9000';
const retryDelayMs = Number(opt('--retry-delay-ms') ?? 1000);
const verbose = args.includes('--verbose');
const result = await runStateMachine(resolve(here, `../${name}.asl.json`), input, {
  endpoint,
  retryDelayMs,
  onEvent: verbose ? (ev) => console.error(`[${ev.type}] ${ev.state?.name ?? ''}`) : undefined,
});
console.log(JSON.stringify(result.ok ? result.output : { error: result.error, cause: result.cause }, null, 2));
const retries = result.invocations.filter((i) => i.error).length;
console.error(`${name}: ${result.ok ? 'succeeded' : 'FAILED'} — ${result.invocations.length} Lambda invocations, ${retries} failed attempts`);
process.exit(result.ok ? 0 : 1);
