// EbsGens: one deployment of ebs-gens as a construct, for the app's stack (EbsGensStack) or a CDK app
// of your own:
//
//   new EbsGens(this, 'Snapshots', { deployment: 'prod', alarmEmail: 'ops@example.com' });
//
// Its parts, each in its own file: Backend (schedule group, scheduler role, dead-letter queue,
// snapshot role), Functions (the four Rust functions, their roles and log groups) with
// FunctionPolicies (what each may do), Orchestration (the state machines, their rules, the published
// configuration) and Observability (alarms, alarm topic, dashboard).
//
// The construct ids below and in the parts are part of every deployment's logical IDs: renaming one
// replaces resources in every stack that holds an EbsGens (test/identity.test.ts checks the app's).
import { Aws, type CfnElement, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { Backend } from './backend';
import { copyRegions, type EbsGensSettings, functionEnvironment, requiredSetting, ruleArnPatterns, settingOf, validate } from './config';
import { FunctionPolicies } from './function-policies';
import { FUNCTION_NAMES, type FunctionName, Functions, contractEntry } from './functions';
import { layoutOnly } from './logical-ids';
import { Observability } from './observability';
import { Orchestration } from './orchestration';

export interface EbsGensProps extends EbsGensSettings {
  /**
   * Prebuilt code per function (e.g. `codeFromDirectory('target/lambda')`, or `lambda.Code.fromAsset`
   * of a directory or .zip holding the `bootstrap` executable, arm64, provided.al2023). The
   * functions not given are built from this repository's Cargo workspace with cargo-lambda during the
   * synth, which needs cargo-lambda and zig on PATH.
   */
  readonly code?: Partial<Record<FunctionName, lambda.Code>>;
}

export class EbsGens extends Construct {
  /** The deployment (`ebs-gens:managed-by` value) this construct deploys. */
  readonly deployment: string;
  /** The four functions, by name. */
  readonly functions: Readonly<Record<FunctionName, lambda.Function>>;
  readonly snapshotCompleted: sfn.StateMachine;
  /** `ebs-gens sweep --remote` starts this one. */
  readonly sweep: sfn.StateMachine;
  /** `ebs-gens-<deployment>`: the EventBridge Scheduler schedule group. */
  readonly scheduleGroupName: string;
  readonly schedulerRole: iam.IRole;
  /** The built-in create-snapshot target's role: rules backend only. */
  readonly snapshotRole?: iam.IRole;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** `/ebs-gens/<deployment>/config`: the deployment's configuration, for the CLI. */
  readonly configParameter: ssm.IStringParameter;
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** With alarmEmail only. */
  readonly alarmTopic?: sns.ITopic;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: EbsGensProps) {
    super(scope, id);
    layoutOnly(this);
    const { code, ...s } = props;
    validate(s);
    // Copies go to another region of the same partition (the functions refuse anything else at start-up).
    const here = Stack.of(this).region;
    if (!Token.isUnresolved(here)) {
      for (const r of copyRegions(s)) {
        if (r === here) throw new Error(`context setting copies: ${r} is this stack's own region; copies go to another region`);
        const partition = (x: string) => (x.startsWith('cn-') ? 'aws-cn' : x.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');
        if (partition(r) !== partition(here)) throw new Error(`context setting copies: ${r} is in another partition than ${here}`);
      }
    }
    // Two deployments of one name in one stack would take the same fixed names (schedule group, log
    // groups, dashboard, parameter) and the same IAM scope; CloudFormation would only fail at deploy.
    const twin = Stack.of(this)
      .node.findAll()
      .find((c) => c !== this && c instanceof EbsGens && c.deployment === s.deployment);
    if (twin) {
      throw new Error(
        `deployment ${JSON.stringify(s.deployment)} is already in this stack (${twin.node.path}): two EbsGens in one stack need different ` +
          'deployments, which name their schedule group, log groups, dashboard and configuration parameter and scope their IAM',
      );
    }
    this.deployment = s.deployment;

    const backend = new Backend(this, 'Backend', { settings: s });
    // Every function's environment: the settings and the account; ensure-schedules also gets the
    // roles and the queue (in both backends; the snapshot role's ARN only on rules).
    const environment = { ...functionEnvironment(s), EBS_GENS_ACCOUNT_ID: Aws.ACCOUNT_ID };
    const f = new Functions(this, 'Functions', { settings: s, environment, code }).fns;
    for (const [k, v] of Object.entries(backend.environment)) f['ensure-schedules'].addEnvironment(k, v);
    new FunctionPolicies(this, 'FunctionPolicies', { settings: s, functions: f, backend });
    const orchestration = new Orchestration(this, 'Orchestration', {
      settings: s,
      functions: f,
      environment: { ...environment, ...backend.environment },
    });
    const observability = new Observability(this, 'Observability', {
      settings: s,
      snapshotCompleted: orchestration.snapshotCompleted,
      sweep: orchestration.sweep,
      scheduleDeadLetterQueue: backend.deadLetterQueue,
    });

    this.functions = f;
    this.snapshotCompleted = orchestration.snapshotCompleted;
    this.sweep = orchestration.sweep;
    this.scheduleGroupName = backend.scheduleGroupName;
    this.schedulerRole = backend.schedulerRole;
    this.snapshotRole = backend.snapshotRole;
    this.scheduleDeadLetterQueue = backend.deadLetterQueue;
    this.configParameter = orchestration.configParameter;
    this.alarms = observability.alarms;
    this.alarmTopic = observability.alarmTopic;
    this.dashboard = observability.dashboard;
    this.acknowledgeWildcards(s);
  }

  /** Every wildcard cdk-nag flags in this construct, acknowledged one by one with its reason. */
  private acknowledgeWildcards(s: EbsGensSettings) {
    const ack = (resource: string, reason: string) =>
      Validations.of(this).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`, reason });
    const lid = (c: Construct) => `<${Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement)}.Arn>:*`;
    const ensure = contractEntry('ensure-schedules').name;
    const tracing = requiredSetting(s, 'tracing');
    ack(
      '*',
      'ec2:DescribeVolumes/DescribeSnapshots/DescribeTags/DescribeLockedSnapshots, events:ListRules, rbin:ListRules and scheduler:ListSchedules support no resource-level permissions; they are read-only. ' +
        "The same holds for the CloudWatch Logs log-delivery actions CDK grants the state machines' roles" +
        (tracing
          ? ', and for the X-Ray actions (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) it grants them with tracing.'
          : '.'),
    );
    ack(
      `arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*`,
      "Snapshot ids are not known in advance; DeleteSnapshot is conditioned on aws:ResourceTag/ebs-gens:managed-by = this deployment (and denied on pinned snapshots), CreateTags on aws:TagKeys = our keys (and, for the Scheduler role, ec2:CreateAction = CreateSnapshot), CreateSnapshot is the target roles' only other action.",
    );
    for (const r of ['<AWS::Region>', ...copyRegions(s)]) {
      ack(
        `arn:<AWS::Partition>:ec2:${r}:<AWS::AccountId>:volume/*`,
        'restore-drill only: CreateVolume needs the new volume ARN, unknown ahead; it is conditioned on the drill tag in the request (tags only as created), and DeleteVolume on that tag on the volume and a parent snapshot.',
      );
    }
    if (settingOf(s, 'sets') === 'on') {
      ack(
        `arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*`,
        `Instance sets (sets=on): the Scheduler role's CreateSnapshots snapshots whichever tagged instance ${ensure} names; it can only CreateSnapshots (and tag the new snapshots as they are created).`,
      );
    }
    ack(
      `arn:<AWS::Partition>:rbin:<AWS::Region>:<AWS::AccountId>:rule/*`,
      "rbin:GetRule only (read-only): prune reads this region's Recycle Bin retention rules, whose ids it learns from ListRules, to report a delete they keep as billed.",
    );
    ack(
      `arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*`,
      `The create-snapshot target (Scheduler schedule or built-in rule target) snapshots whichever tagged volume ${ensure} names; the role can only CreateSnapshot.`,
    );
    ack(
      `arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.scheduleGroupName}/*`,
      `${ensure} creates, re-enables (UpdateSchedule) and deletes schedules it names itself (<volume>.<class>.<hash>); the group in the ARN limits it to this deployment's schedule group.`,
    );
    for (const pattern of ruleArnPatterns(s, '<AWS::Partition>', '<AWS::Region>', '<AWS::AccountId>')) {
      ack(
        pattern,
        `${ensure} creates and removes rules it names itself (<prefix><class>-<hash>-<nn>); the prefix and class limit it to this deployment's rules, PutTargets to the create-snapshot target.`,
      );
    }
    for (const region of copyRegions(s)) {
      ack(
        `arn:<AWS::Partition>:ec2:${region}::snapshot/*`,
        'Copies in a destination region: their ids are not known in advance; CopySnapshot there requires aws:RequestTag/ebs-gens:managed-by = this deployment and our copy tag keys, CreateTags only as part of the copy (ec2:CreateAction = CopySnapshot), DeleteSnapshot only on aws:ResourceTag/ebs-gens:managed-by = this deployment (and denied on pinned copies).',
      );
    }
    for (const name of FUNCTION_NAMES) {
      const fn = this.functions[name];
      ack(lid(fn), "CDK grantInvoke lets the state machine invoke the function's versions and aliases (<arn>:*).");
      const logGroup = fn.logGroup.node.defaultChild ? fn.logGroup : undefined;
      if (logGroup) ack(lid(logGroup as unknown as Construct), "Log streams inside the function's own log group.");
    }
  }
}
