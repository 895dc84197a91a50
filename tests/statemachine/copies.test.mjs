// Copies to another region through the sweep state machine: moto holds both regions (its copies
// complete at once), the real functions copy within AWS's 20 in flight per destination, and the
// sweep's copy rounds start what was left as slots free — a bounded number of rounds, never in a
// dry run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { runStateMachine } from '../../local/runner.mjs';
import { startStack, ROOT } from '../../local/stack.mjs';

const SWEEP = resolve(ROOT, 'statemachine/sweep.asl.json');
const DEFINITION = JSON.parse((await import('node:fs')).readFileSync(SWEEP, 'utf8'));
const MAX_ROUNDS = DEFINITION.States.MoreCopies.Choices[0].And.find((c) => c.Variable === '$.pump.round').NumericLessThan;
const REGION = 'us-west-2';
let stack;

before(async () => {
  stack = await startStack({ env: { EBS_GENS_BACKEND: 'scheduler', EBS_GENS_COPIES: `daily:${REGION}=20` } });
});

after(async () => {
  await stack?.stop();
});

const run = (input) => runStateMachine(SWEEP, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0, waitMs: 0 });
const copiesThere = () => Object.values(stack.fleet('copies', '--region', REGION)).flat();

/** `volumes` daily volumes of 20 generations each: 20 copies wanted per volume. */
function seed(volumes) {
  stack.fleet('create-group');
  return stack.fleet('seed-fleet', '--volumes', String(volumes), '--tag', 'Daily_Gens=20', '--history', '20', '--name', 'copies');
}

test('copies beyond the 20 in flight start in the copy rounds of the same sweep, each source once', async () => {
  await stack.reset();
  seed(2);
  const r = await run({});
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  // The first round starts 20 (AWS's limit per destination) and leaves 20; one more round starts them.
  assert.equal(r.output.summary.copied, 20);
  assert.equal(r.output.summary.copies_deferred, 20);
  assert.deepEqual(r.output.copy_rounds, { rounds: 1, copied: 20, copies_deferred: 0 });
  assert.equal(r.invocations.filter((i) => i.state === 'ScanOrphans').length, 1, 'the orphan scan runs once');
  const copies = copiesThere();
  assert.equal(copies.length, 40);
  assert.equal(new Set(copies.map((c) => c.copy_of)).size, 40, 'no source copied twice');
  // Nothing is left: the next sweep copies nothing and needs no round.
  const again = await run({});
  assert.ok(again.ok);
  assert.equal(again.output.summary.copied, 0);
  assert.deepEqual(again.output.copy_rounds, { rounds: 0, copied: 0, copies_deferred: 0 });
});

test('the copy rounds are bounded: what is still left waits for the next sweep, not a failure', async () => {
  await stack.reset();
  const volumes = MAX_ROUNDS + 2; // 20 copies each: more than 1 + MAX_ROUNDS rounds of 20
  seed(volumes);
  const r = await run({});
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.copy_rounds.rounds, MAX_ROUNDS);
  assert.equal(r.output.summary.copied + r.output.copy_rounds.copied, 20 * (1 + MAX_ROUNDS));
  assert.equal(r.output.copy_rounds.copies_deferred, 20 * volumes - 20 * (1 + MAX_ROUNDS));
  assert.equal(copiesThere().length, 20 * (1 + MAX_ROUNDS));
});

test('a dry run copies nothing and runs no copy round', async () => {
  await stack.reset();
  seed(2);
  const r = await run({ dry_run: true });
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.summary.copies_deferred, 20);
  assert.deepEqual(r.output.copy_rounds, { rounds: 0, copied: 0, copies_deferred: 20 });
  assert.equal(copiesThere().length, 0);
});
