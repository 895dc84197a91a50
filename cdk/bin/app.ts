#!/usr/bin/env node
// ebs-gens CDK app. Settings come from context (cdk.json or -c key=value):
//   deployment, timeZone, adoption (schedule-window | any-untagged | never; default never on the
//   scheduler backend, schedule-window on rules), sweepSchedule, dryRun, alarmEmail, logRetentionDays,
//   backend (scheduler | rules; default scheduler), flexibleWindowMinutes (0..1440; default 60),
//   staleFactor (1..100; default 1.5), staleGraceMinutes (0..10080; default 15),
//   fuseVolumePercent (1..100; default 50), fuseVolumeMin (0..100000; default 5),
//   fuseBatchPercent (1..100; default 25), fuseBatchMin (0..1000000; default 100),
//   orphans (keep | keep-last=K,older-than=DAYS; default keep),
//   stateMachineLogLevel (ALL | ERROR | FATAL; default ERROR, with execution data), tracing (true | false; default false),
//   reservedConcurrency (1..1000 per function; default none),
//   tagKey.<class>, cron.<class>   (class: hourly | daily | weekly | monthly)
// EBS_GENS_SKIP_BUNDLING=1 synthesizes without building the Rust functions (tests, CI).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  CLASSES, DEFAULT_TRACING, EbsGensSettings, GenClass, WHOLE_NUMBER_SETTINGS, WHOLE_NUMBER_SETTING_NAMES, parseAdoption, parseBackend, parseBooleanSetting, parseFlexibleWindowMinutes,
  parseOrphans, parseReservedConcurrency, parseStaleFactor, parseStateMachineLogLevel, parseWholeNumberSetting, validate,
} from '../lib/config';
import { EbsGensStack } from '../lib/ebs-gens-stack';

export function buildApp(context: Record<string, unknown> = {}, skipBundling = process.env.EBS_GENS_SKIP_BUNDLING === '1'): App {
  const app = new App({ context });
  // Set after construction: the CLI passes its own bundling-stacks (["**"]) through the environment.
  if (skipBundling) app.node.setContext('aws:cdk:bundling-stacks', []);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const get = (k: string) => app.node.tryGetContext(k) as string | undefined;
  const perClass = (p: string) =>
    Object.fromEntries(CLASSES.filter((c) => get(`${p}.${c}`)).map((c) => [c, get(`${p}.${c}`)!])) as Partial<Record<GenClass, string>>;
  const settings: EbsGensSettings = {
    deployment: get('deployment') ?? 'default',
    timeZone: get('timeZone'),
    // Strict; absent means the backend's default (never on scheduler, schedule-window on rules).
    adoption: parseAdoption('adoption', app.node.tryGetContext('adoption'), parseBackend('backend', app.node.tryGetContext('backend'))),
    sweepSchedule: get('sweepSchedule'),
    // Strict, so `-c dryRun=True` fails instead of deploying a live run.
    dryRun: parseBooleanSetting('dryRun', app.node.tryGetContext('dryRun')),
    alarmEmail: get('alarmEmail'),
    logRetentionDays: get('logRetentionDays') ? Number(get('logRetentionDays')) : undefined,
    // Strict, like dryRun: `-c backend=Rules` or `-c flexibleWindowMinutes=1h` stops the synth.
    backend: parseBackend('backend', app.node.tryGetContext('backend')),
    flexibleWindowMinutes: parseFlexibleWindowMinutes('flexibleWindowMinutes', app.node.tryGetContext('flexibleWindowMinutes')),
    // Staleness, the bulk-deletion fuse and the orphan policy: strict too, with Rust's ranges, so a
    // value the functions would refuse at start-up (or a typo that deletes orphans) stops the synth.
    staleFactor: parseStaleFactor('staleFactor', app.node.tryGetContext('staleFactor')),
    ...(Object.fromEntries(WHOLE_NUMBER_SETTING_NAMES.map((n) => [n, parseWholeNumberSetting(n, app.node.tryGetContext(n), WHOLE_NUMBER_SETTINGS[n])])) as
      Pick<EbsGensSettings, (typeof WHOLE_NUMBER_SETTING_NAMES)[number]>),
    orphans: parseOrphans('orphans', app.node.tryGetContext('orphans')),
    // Observability, the larger part of the cost (`make cost`): strict too, so `-c tracing=yes` or
    // `-c stateMachineLogLevel=all` stops the synth instead of deploying something else than meant.
    stateMachineLogLevel: parseStateMachineLogLevel('stateMachineLogLevel', app.node.tryGetContext('stateMachineLogLevel')),
    tracing: parseBooleanSetting('tracing', app.node.tryGetContext('tracing'), DEFAULT_TRACING),
    // Opt-in (absent: no reservation), strict like the rest.
    reservedConcurrency: parseReservedConcurrency('reservedConcurrency', app.node.tryGetContext('reservedConcurrency')),
    tagKeys: perClass('tagKey'),
    crons: perClass('cron'),
  };
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
