#!/usr/bin/env node
// ebs-gens CDK app. Settings come from context (cdk.json or -c key=value): every operator setting of
// contract.json `settings` under its context key (docs/settings.md lists them with what each accepts
// and its default), each checked against that table before anything is synthesized, so a value the
// functions would refuse at start-up stops the synth. A class's tag key and cron: `tagKeys.<class>`
// and `crons.<class>` (class: hourly | daily | weekly | monthly), also read under their former names
// `tagKey.<class>` and `cron.<class>`.
// EBS_GENS_SKIP_BUNDLING=1 synthesizes without building the Rust functions (tests, CI).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CLASSES, type EbsGensSettings, type SettingKey, parseProp, settingRow, validate } from '../lib/config';
import { EbsGensStack } from '../lib/ebs-gens-stack';

/**
 * The context keys the app reads: every prop of EbsGensSettings, each class's tag key and cron one by
 * one (the compiler holds this list to the props; test/settings.test.ts holds it to contract.json's
 * operator settings, so a setting added to the table is a prop and a context key, or the tests fail).
 */
export const CONTEXT_KEYS = {
  deployment: true,
  backend: true,
  timeZone: true,
  dryRun: true,
  'tagKeys.hourly': true,
  'tagKeys.daily': true,
  'tagKeys.weekly': true,
  'tagKeys.monthly': true,
  'crons.hourly': true,
  'crons.daily': true,
  'crons.weekly': true,
  'crons.monthly': true,
  flexibleWindowMinutes: true,
  adoption: true,
  adoptionWindowMinutes: true,
  staleFactor: true,
  staleGraceMinutes: true,
  fuseVolumePercent: true,
  fuseVolumeMin: true,
  fuseBatchPercent: true,
  fuseBatchMin: true,
  orphans: true,
  copies: true,
  copyKmsKeys: true,
  copyCompletionMinutes: true,
  locks: true,
  lockCoolOffHours: true,
  lockMaxDays: true,
  drillVolumes: true,
  drillMaxGib: true,
  drillSchedule: true,
  drillKmsKeys: true,
  sets: true,
  deleteBurst: true,
  deletesPerSecond: true,
  sweepSchedule: true,
  alarmEmail: true,
  logRetentionDays: true,
  stateMachineLogLevel: true,
  tracing: true,
  reservedConcurrency: true,
} as const satisfies Record<SettingKey, true>;

/** The names a class's tag key and cron were read under before the settings table: still read. */
export const FORMER_CONTEXT_KEYS: Readonly<Partial<Record<SettingKey, string>>> = Object.fromEntries(
  CLASSES.flatMap((c) => [
    [`tagKeys.${c}`, `tagKey.${c}`],
    [`crons.${c}`, `cron.${c}`],
  ]),
);

/**
 * The settings a context gives (`get`: a context key's value, undefined when absent): each key
 * checked against its row of contract.json settings (strings from `-c`, JSON values from cdk.json),
 * as its prop's type; absent keys are left out (the construct takes the table's defaults), but for
 * the deployment, which the stack's name needs.
 */
export function settingsFromContext(get: (key: string) => unknown): EbsGensSettings {
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(CONTEXT_KEYS) as SettingKey[]) {
    let [raw, name]: [unknown, string] = [get(key), key];
    const former = FORMER_CONTEXT_KEYS[key];
    if (former !== undefined && get(former) !== undefined) {
      if (raw !== undefined && raw !== get(former)) {
        throw new Error(`context settings ${key} and ${former} (its former name) are both given, differently: give one`);
      }
      [raw, name] = [get(former), former];
    }
    const value = parseProp(key, raw, name);
    if (value === undefined) continue;
    const [prop, cls] = key.split('.');
    props[prop] = cls === undefined ? value : { ...(props[prop] as object | undefined), [cls]: value };
  }
  return { ...props, deployment: props.deployment ?? settingRow('deployment').default } as EbsGensSettings;
}

export function buildApp(context: Record<string, unknown> = {}, skipBundling = process.env.EBS_GENS_SKIP_BUNDLING === '1'): App {
  const app = new App({ context });
  // Set after construction: the CLI passes its own bundling-stacks (["**"]) through the environment.
  if (skipBundling) app.node.setContext('aws:cdk:bundling-stacks', []);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const settings = settingsFromContext((key) => app.node.tryGetContext(key));
  validate(settings);
  new EbsGensStack(app, `EbsGens-${settings.deployment}`, {
    settings,
    description: `ebs-gens (${settings.deployment}): tag-driven EBS snapshot generations`,
  });
  return app;
}

if (require.main === module) {
  buildApp().synth();
}
