// The app's stack, `EbsGens-<deployment>`: one EbsGens construct with the settings read from context
// (bin/app.ts), and the stack outputs. Its resources keep the logical IDs they had when this stack
// held them directly (lib/logical-ids.ts; test/identity.test.ts), so a deployed stack updates in place.
import { type CfnElement, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { type EbsGensSettings, KEEP_TAG } from './config';
import { EbsGens } from './ebs-gens';
import type { FunctionName } from './functions';
import { logicalIdWithoutLayout } from './logical-ids';

// What the tests and the tools import from here.
export { skipCheckov } from './checkov';
export { EbsGens, type EbsGensProps } from './ebs-gens';
export { FUNCTION_NAMES, type FunctionName, codeFromDirectory, rustSourceHash } from './functions';
export { dashboardName } from './observability';
export { type DeploymentConfig, MAX_CONFIG_BYTES, checkConfigSize, deploymentConfig } from './orchestration';
export { KEEP_TAG };

export interface EbsGensStackProps extends StackProps {
  readonly settings: EbsGensSettings;
}

export class EbsGensStack extends Stack {
  readonly gens: EbsGens;
  readonly functions: Readonly<Record<FunctionName, lambda.Function>>;
  readonly snapshotCompleted: sfn.StateMachine;
  readonly sweep: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: EbsGensStackProps) {
    super(scope, id, props);
    const gens = new EbsGens(this, 'Snapshots', props.settings);
    this.gens = gens;
    this.functions = gens.functions;
    this.snapshotCompleted = gens.snapshotCompleted;
    this.sweep = gens.sweep;

    // `ebs-gens sweep --remote --state-machine-arn` starts this one.
    new CfnOutput(this, 'SweepStateMachineArn', {
      value: gens.sweep.stateMachineArn,
      description: 'The sweep state machine (ebs-gens sweep --remote --state-machine-arn)',
    });
    new CfnOutput(this, 'SnapshotCompletedStateMachineArn', { value: gens.snapshotCompleted.stateMachineArn });
    if (gens.snapshotRole) new CfnOutput(this, 'SnapshotRoleArn', { value: gens.snapshotRole.roleArn });
    new CfnOutput(this, 'ScheduleGroupName', { value: gens.scheduleGroupName });
    new CfnOutput(this, 'SchedulerRoleArn', { value: gens.schedulerRole.roleArn });
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', { value: gens.scheduleDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'DashboardName', { value: gens.dashboard.dashboardName });
    new CfnOutput(this, 'ConfigParameterName', {
      value: gens.configParameter.parameterName,
      description: "The deployment's configuration for the ebs-gens CLI (SSM String parameter, JSON)",
    });
  }

  /** The logical IDs of the stack before EbsGens: its layout-only constructs left out of the path. */
  protected allocateLogicalId(element: CfnElement): string {
    return logicalIdWithoutLayout(this, element);
  }
}
