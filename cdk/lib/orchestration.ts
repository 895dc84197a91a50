// What runs the functions: the two state machines (ASL from statemachine/, logged to their own log
// groups), the EventBridge rule that starts snapshot-completed on every EBS createSnapshot
// completion, the sweep's schedule — and the deployment's configuration, published for the CLI.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Aws, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { LOG_GROUP_KMS, skipCheckov } from './checkov';
import { CONFIG_SCHEMA, type EbsGensSettings, configParameterName, requiredSetting, settingOf } from './config';
import { CONTRACT } from './contract';
import { type FunctionName, ROOT, functionOfPlaceholder } from './functions';
import { layoutOnly } from './logical-ids';

/** The published configuration (`/ebs-gens/<deployment>/config`), as the CLI reads it. */
export interface DeploymentConfig {
  readonly schema: number;
  readonly deployment: string;
  readonly region: string;
  readonly account_id: string;
  /** Every EBS_GENS_* variable the functions are given, exactly as given. */
  readonly environment: Record<string, string>;
  readonly state_machines: { readonly sweep: string; readonly snapshot_completed: string; readonly restore_drill: string };
}

export function deploymentConfig(
  deployment: string,
  environment: Record<string, string>,
  stateMachines: DeploymentConfig['state_machines'],
): DeploymentConfig {
  return { schema: CONFIG_SCHEMA, deployment, region: Aws.REGION, account_id: Aws.ACCOUNT_ID, environment, state_machines: stateMachines };
}

/** A Standard-tier SSM parameter holds at most 4 KB (Advanced, 8 KB, is billed per parameter-month). */
export const MAX_CONFIG_BYTES = 4096;
/**
 * The longest a token in the configuration can resolve to: the region, the account, and ARNs of
 * resources CloudFormation names (IAM roles ≤ 64 characters, queues and state machines ≤ 80), each
 * under 150 characters with the longest partition and region.
 */
const LONGEST_TOKEN = 150;

/**
 * Stops the synth when the configuration could exceed a Standard parameter (long tag keys or crons):
 * CloudFormation would only fail at deploy time. Every token is counted at its longest.
 */
export function checkConfigSize(config: DeploymentConfig): number {
  const worst = JSON.stringify(config, (_k, v) =>
    typeof v === 'string' && Token.isUnresolved(v) ? v.replace(/\$\{Token\[[^\]]*\]\}/g, 'x'.repeat(LONGEST_TOKEN)) : v,
  );
  const bytes = Buffer.byteLength(worst, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    throw new Error(
      `the published configuration ${configParameterName(config.deployment)} could be ${bytes} bytes, over the ${MAX_CONFIG_BYTES} ` +
        'a Standard SSM parameter holds: shorten the tag keys or crons',
    );
  }
  return bytes;
}

export interface OrchestrationProps {
  readonly settings: EbsGensSettings;
  readonly functions: Record<FunctionName, lambda.Function>;
  /** Every EBS_GENS_* variable some function is given (published in the configuration). */
  readonly environment: Record<string, string>;
}

export class Orchestration extends Construct {
  readonly snapshotCompleted: sfn.StateMachine;
  readonly sweep: sfn.StateMachine;
  readonly restoreDrill: sfn.StateMachine;
  readonly configParameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: OrchestrationProps) {
    super(scope, id);
    layoutOnly(this);
    const { settings: s, functions: f } = props;

    // The state machines, ASL loaded from statemachine/. Each gets exactly the placeholders
    // contract.json lists for it, substituted with its functions' ARNs, and may invoke exactly those
    // functions; an ASL whose `${…}` placeholders differ from the contract's stops the synth.
    // Observability is most of the deployment's cost (`make cost`): logging every execution's events
    // with their data was about 60 % of it, X-Ray about 7 %. So by default both machines log at level
    // ERROR and are not traced. ERROR logs only the error events (a task that failed, retried or not;
    // a failed, timed-out or aborted execution), with their data — the error and its cause, which for
    // our functions is their error message — and nothing of an execution that went well; the
    // functions' own JSON logs (INFO, always) say what each invocation did. `-c
    // stateMachineLogLevel=ALL` brings back every state's input and output, `-c tracing=true` the traces.
    const logLevel = requiredSetting(s, 'stateMachineLogLevel');
    const tracing = requiredSetting(s, 'tracing');
    const retention = requiredSetting(s, 'logRetentionDays') as logs.RetentionDays;
    const machine = (id: string, name: string, file: string, stateMachineType: sfn.StateMachineType) => {
      const entry = CONTRACT.state_machines.find((m) => m.file === file);
      if (!entry) throw new Error(`contract.json lists no state machine ${file}`);
      const definition = readFileSync(resolve(ROOT, 'statemachine', file), 'utf8');
      const inAsl = [...new Set([...definition.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))].sort();
      if (JSON.stringify(inAsl) !== JSON.stringify([...entry.placeholders].sort())) {
        throw new Error(
          `statemachine/${file} uses the placeholders ${inAsl.join(', ')}, contract.json lists ${entry.placeholders.join(', ')}`,
        );
      }
      const uses = entry.placeholders.map((p) => [p, functionOfPlaceholder(p)] as const);
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        logGroupName: `/aws/vendedlogs/states/ebs-gens-${s.deployment}-${name}`,
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      skipCheckov(logGroup, 'CKV_AWS_158', LOG_GROUP_KMS);
      const sm = new sfn.StateMachine(this, id, {
        definitionBody: sfn.DefinitionBody.fromString(definition),
        definitionSubstitutions: Object.fromEntries(uses.map(([p, fn]) => [p, f[fn].functionArn])),
        stateMachineType,
        tracingEnabled: tracing,
        logs: {
          // Under /aws/vendedlogs/, with an exact name: docs/deploy.md#iam-state-machine-logs. Always
          // with execution data, whatever the level: an Express execution keeps no execution history
          // in Step Functions, so this log is the only place its errors and their causes (at level
          // ALL, also its states' inputs and outputs) can be read afterwards — never OFF, for the
          // same reason (contract.json's values for stateMachineLogLevel have no OFF).
          destination: logGroup,
          level: sfn.LogLevel[logLevel],
          includeExecutionData: true,
        },
      });
      for (const [, fn] of uses) f[fn].grantInvoke(sm);
      // cdk-nag's AwsSolutions-SF1 wants level ALL and SF2 X-Ray tracing: both are opt-in here, for
      // cost, so each is acknowledged on this state machine only, and only when it is off.
      if (logLevel !== 'ALL') {
        Validations.of(sm).acknowledge({
          id: 'AwsSolutions::AwsSolutions-SF1',
          reason: `cost: level ${logLevel} with execution data by default (error events with their error and cause; nothing of a successful execution); -c stateMachineLogLevel=ALL for full history`,
        });
      }
      if (!tracing) {
        Validations.of(sm).acknowledge({
          id: 'AwsSolutions::AwsSolutions-SF2',
          reason: 'cost: X-Ray records one billed trace per execution; tracing opt-in with -c tracing=true',
        });
      }
      return sm;
    };
    // snapshot-completed is an Express workflow: it runs once per snapshot taken (30 a month per
    // daily volume, 720 per hourly one), a few states and two short Lambda calls, so a request plus
    // 100 ms steps of 64 MB costs a fraction of Standard's per-transition price (`make cost`).
    // What Express changes, and why it is safe here:
    // - at-least-once: a duplicated execution (as a duplicated EventBridge delivery) adopts and
    //   deletes nothing more (tag-snapshot and prune-volumes are idempotent; tested end to end in
    //   tests/statemachine/statemachine.test.mjs);
    // - no execution history in Step Functions: the execution log is all there is (by default its
    //   error events, with their data; every event with -c stateMachineLogLevel=ALL) besides the
    //   functions' own logs;
    // - a 5-minute limit: a one-volume prune normally deletes one surplus snapshot. One that runs
    //   longer (a policy lowered by hundreds) ends the execution as timed out (alarmed) while
    //   prune-volumes runs on to its own deadline; the hourly sweep finishes what is left.
    // EventBridge starts it as before (StartExecution, asynchronous; the rule's role is allowed
    // states:StartExecution on it).
    this.snapshotCompleted = machine(
      'SnapshotCompleted',
      'snapshot-completed',
      'snapshot-completed.asl.json',
      sfn.StateMachineType.EXPRESS,
    );
    // The sweep stays Standard: one execution runs ensure-schedules, then every page's prune batches,
    // each of which may take up to prune-volumes' 900 s Lambda timeout (`make fault-budget`) —
    // longer than Express's 5-minute maximum. It runs 720 times a month whatever the fleet size,
    // its transitions growing only per page (250 volumes) and batch (100 volumes).
    this.sweep = machine('Sweep', 'sweep', 'sweep.asl.json', sfn.StateMachineType.STANDARD);
    // The restore drill is Standard too: it waits (Wait states, free) up to 30 minutes for its
    // volumes. It runs on its schedule only with drillVolumes set; `ebs-gens drill --apply` starts it.
    this.restoreDrill = machine('RestoreDrill', 'restore-drill', 'restore-drill.asl.json', sfn.StateMachineType.STANDARD);

    // The deployment's configuration, published for the operator's command: `ebs-gens --deployment`
    // reads it (ssm:GetParameter) and builds its settings from `environment` only — every EBS_GENS_*
    // variable the functions run with, exactly as given — so it cannot act on an operator's own
    // settings (a different zone or cron would re-create every schedule; missing tag keys would find
    // no volume). No function reads it: none is granted ssm:*.
    const config = deploymentConfig(s.deployment, props.environment, {
      sweep: this.sweep.stateMachineArn,
      snapshot_completed: this.snapshotCompleted.stateMachineArn,
      restore_drill: this.restoreDrill.stateMachineArn,
    });
    checkConfigSize(config);
    this.configParameter = new ssm.StringParameter(this, 'ConfigParameter', {
      parameterName: configParameterName(s.deployment),
      description: `ebs-gens ${s.deployment}: the deployment's configuration, read by the ebs-gens CLI (schema ${CONFIG_SCHEMA})`,
      tier: ssm.ParameterTier.STANDARD,
      stringValue: Stack.of(this).toJsonString(config),
    });

    const setsOn = settingOf(s, 'sets') === 'on';
    new events.Rule(this, 'SnapshotCompletedRule', {
      description: `ebs-gens ${s.deployment}: EBS createSnapshot (and, with sets, createSnapshots) completions start snapshot-completed`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: setsOn ? ['EBS Snapshot Notification', 'EBS Multi-Volume Snapshots Completion Status'] : ['EBS Snapshot Notification'],
        detail: { event: setsOn ? ['createSnapshot', 'createSnapshots'] : ['createSnapshot'], result: ['succeeded', 'failed'] },
      },
      targets: [new targets.SfnStateMachine(this.snapshotCompleted)],
    });
    new events.Rule(this, 'SweepSchedule', {
      description: `ebs-gens ${s.deployment}: the sweep`,
      schedule: events.Schedule.expression(requiredSetting(s, 'sweepSchedule')),
      targets: [
        new targets.SfnStateMachine(this.sweep, { input: events.RuleTargetInput.fromObject({ dry_run: requiredSetting(s, 'dryRun') }) }),
      ],
    });
    if ((settingOf(s, 'drillVolumes') ?? 'off') !== 'off') {
      new events.Rule(this, 'DrillSchedule', {
        description: `ebs-gens ${s.deployment}: restore drills`,
        schedule: events.Schedule.expression(String(requiredSetting(s, 'drillSchedule'))),
        targets: [
          new targets.SfnStateMachine(this.restoreDrill, {
            input: events.RuleTargetInput.fromObject({ dry_run: requiredSetting(s, 'dryRun') }),
          }),
        ],
      });
    }
  }
}
