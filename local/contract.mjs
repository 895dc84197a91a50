// contract.json (generated from shared/src/contract.rs by `make contract`): the function names and
// placeholders, timeouts, tag keys and metric names the runner shares with Rust, the ASL and CDK.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONTRACT_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../contract.json');

function load(path) {
  let c;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the contract ${path} (generate it with \`make contract\`): ${e.message}`);
  }
  const ok =
    Array.isArray(c?.functions) &&
    c.functions.length > 0 &&
    c.functions.every(
      (f) =>
        typeof f.name === 'string' && typeof f.placeholder === 'string' && Number.isInteger(f.timeout_seconds) && f.timeout_seconds > 0,
    ) &&
    Array.isArray(c.state_machines) &&
    typeof c.tags?.managed_by === 'string' &&
    typeof c.tags?.keep === 'string' &&
    typeof c.metrics?.namespace === 'string' &&
    Array.isArray(c.metrics?.names);
  if (!ok) throw new Error(`${path}: unexpected shape (regenerate it with \`make contract\`)`);
  return c;
}

export const CONTRACT = load(CONTRACT_PATH);

/** `${...}` placeholder of the ASL → the function (binary / `cargo lambda watch`) name. */
export const FUNCTIONS = Object.fromEntries(CONTRACT.functions.map((f) => [f.placeholder, f.name]));

/** The contract's entry for a function: `{ name, placeholder, timeout_seconds, task_timeout_seconds, memory_mb }`. */
export function contractFunction(name) {
  const f = CONTRACT.functions.find((x) => x.name === name);
  if (!f) throw new Error(`function ${name} is not in contract.json (functions: ${CONTRACT.functions.map((x) => x.name).join(', ')})`);
  return f;
}

/** The function's name, checked against the contract (a typo fails instead of invoking nothing). */
export const fn = (name) => contractFunction(name).name;

/** The longest Lambda timeout of any function, in seconds. */
export const MAX_TIMEOUT_SECONDS = Math.max(...CONTRACT.functions.map((f) => f.timeout_seconds));

/** Tag keys: managed_by, volume, class, keep, name, generation_keys.{hourly,daily,weekly,monthly}. */
export const TAGS = CONTRACT.tags;

/** The path of a state machine definition contract.json lists (throws for any other). */
export function stateMachineFile(file) {
  if (!CONTRACT.state_machines.some((m) => m.file === file)) throw new Error(`contract.json lists no state machine ${file}`);
  return resolve(dirname(CONTRACT_PATH), 'statemachine', file);
}
