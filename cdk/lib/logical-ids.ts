// Logical IDs. CloudFormation replaces a resource whose logical ID changes, and CDK derives logical
// IDs from construct paths — so moving resources under new constructs would replace every resource
// of a deployed stack (the log groups with their history, the schedule group and with it every
// schedule). The constructs that only group others (EbsGens and its parts) register here; the app's
// stack (EbsGensStack) leaves them out of the path it derives logical IDs from, which gives every
// resource the logical ID it had when the stack held them all directly. In a stack of your own
// nothing is left out: plain CDK logical IDs, two EbsGens side by side cannot collide.
// test/identity.test.ts compares the app's logical IDs with the deployed ones (test/identity.json).
import { createHash } from 'node:crypto';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

const LAYOUT_ONLY = new WeakSet<IConstruct>();

/** Marks a construct that only groups others: EbsGensStack derives no logical ID from its id. */
export function layoutOnly(construct: IConstruct): void {
  LAYOUT_ONLY.add(construct);
}

/**
 * The logical ID `element` had before the grouping constructs existed: CDK's own derivation from
 * the path below the stack, with the layout-only constructs left out.
 */
export function logicalIdWithoutLayout(stack: Stack, element: CfnElement): string {
  const scopes = element.node.scopes;
  const below = scopes.slice(scopes.indexOf(stack) + 1);
  return makeUniqueId(below.filter((c) => !LAYOUT_ONLY.has(c)).map((c) => c.node.id));
}

/**
 * CDK's logical-ID algorithm (aws-cdk-lib core/lib/private/uniqueid.ts `makeUniqueId`, not exported):
 * `Default` components dropped; a single component as it is (alphanumerics only); otherwise the
 * components without `Resource` and without repeats, alphanumerics only, at most 240 characters,
 * followed by the first 8 hex digits (upper case) of the MD5 of the whole path.
 */
export function makeUniqueId(components: string[]): string {
  const parts = components.filter((x) => x !== 'Default');
  if (parts.length === 0) throw new Error('no path components to derive a logical ID from');
  const alnum = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
  if (parts.length === 1 && alnum(parts[0]).length <= 255) return alnum(parts[0]);
  const hash = createHash('md5').update(parts.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const p of parts) if (human.length === 0 || !human[human.length - 1].endsWith(p)) human.push(p);
  return (
    human
      .filter((x) => x !== 'Resource')
      .map(alnum)
      .join('')
      .slice(0, 240) + hash
  );
}
