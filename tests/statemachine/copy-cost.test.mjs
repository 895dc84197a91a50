// `make cost`'s copy model (scripts/cost.mjs copyCost) on hand-checked figures: the first copy is
// full, later ones carry the blocks changed since the previous copy, a coarser rule's generation is
// never copied twice, and bad input is refused naming it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COPY_EXAMPLES, copyCost, drillCost, parseCopyRules } from '../../scripts/cost.mjs';

const prices = { inter_region_transfer_gb: 0.02, ebs_snapshot_standard_gb_month: 0.05 };
const priceOf = (id) => prices[id];
const cost = (text, gib = 100, dailyChange = 0.02) => copyCost(parseCopyRules(text), { gib, dailyChange, priceOf });
const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('daily copies: one a day, each carrying a day of changes; the destination holds one full copy and 6 days of changes', () => {
  const c = cost('daily:us-west-2=7');
  close(c.copiesPerMonth, 365.25 / 12);
  close(c.transferGib, (365.25 / 12) * 2);
  close(c.storedGib, 100 + 6 * 2);
  close(c.firstCopy, 100 * 0.02);
  close(c.total, c.transferGib * 0.02 + c.storedGib * 0.05);
});

test('a weekly copy carries a week of changes, capped at the whole volume', () => {
  close(cost('weekly:us-west-2=4').storedGib, 100 + 3 * 14);
  const churn = cost('weekly:us-west-2=4', 100, 0.5);
  close(churn.storedGib, 100 + 3 * 100);
  close(churn.transferGib, (365.25 / 12 / 7) * 100);
});

test('a coarser rule beside a finer one adds storage (a longer span), never a second copy of a generation', () => {
  const daily = cost('daily:us-west-2=7');
  const both = cost('daily:us-west-2=7 weekly:us-west-2=4');
  close(both.transferGib, daily.transferGib);
  close(both.copiesPerMonth, daily.copiesPerMonth);
  close(both.storedGib, 100 + (21 + 3.5) * 2);
  assert.ok(both.total > daily.total);
});

test('every example make cost prints prices', () => {
  for (const text of COPY_EXAMPLES) assert.ok(cost(text).total > 0, text);
});

test('bad input is refused, naming it', () => {
  assert.throws(() => parseCopyRules('daily:us-west-2=seven'), /daily:us-west-2=seven.*CLASS:REGION=N/);
  assert.throws(() => parseCopyRules('yearly:us-west-2=1'), /yearly/);
  assert.throws(() => copyCost([], { gib: 1, dailyChange: 0, priceOf }), /no copy rule/);
  assert.throws(() => copyCost([{ class: 'daily', keep: 0 }], { gib: 1, dailyChange: 0, priceOf }), /bad rule/);
  assert.throws(() => cost('daily:us-west-2=7', 0), /gib > 0/);
  assert.throws(() => cost('daily:us-west-2=7', 100, 2), /dailyChange/);
});

test('a drill volume is billed per second (60 s at least) for the minutes it lives, plus its transitions and calls', () => {
  const p = { ebs_gp3_gb_month: 0.08, sfn_standard_transition: 0.000025, lambda_request: 0.0000002 };
  const c = drillCost({ volumes: 100, gib: 100, minutes: 5, drillsPerMonth: 4, priceOf: (id) => p[id] });
  // 100 volumes x 100 GiB x $0.08 x 300 s / 2,628,000 s x 4 drills
  close(c.storage, (100 * 100 * 0.08 * 300 * 4) / 2628000);
  close(c.transitions, (8 + 3 * 10) * 4);
  close(c.total, c.storage + c.transitions * 0.000025 + 11 * 4 * 0.0000002);
  // Under a minute is billed as a minute.
  const short = drillCost({ volumes: 1, gib: 10, minutes: 0.5, drillsPerMonth: 1, priceOf: (id) => p[id] });
  close(short.storage, (10 * 0.08 * 60) / 2628000);
  assert.throws(() => drillCost({ volumes: 1, gib: 0, minutes: 5 }), /gib > 0/);
});
