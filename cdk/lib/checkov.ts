// checkov's findings that do not apply, acknowledged on their resource with the reason, in the
// template itself — as Validations.acknowledge does for cdk-nag.
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges a checkov finding on one resource, with its reason, in the template itself (the
 * resource's Metadata `checkov.skip`, which checkov reads), as Validations.acknowledge does for
 * cdk-nag: `make test-cdk` runs checkov on the synthesized template and fails on any other finding.
 */
export function skipCheckov(scope: IConstruct, id: string, comment: string): void {
  const resource = (scope instanceof CfnResource ? scope : scope.node.defaultChild) as CfnResource;
  const skip = (resource.getMetadata('checkov')?.skip ?? []) as { id: string; comment: string }[];
  resource.addMetadata('checkov', { skip: [...skip, { id, comment }] });
}

/**
 * Log groups: CloudWatch Logs encrypts every log group at rest (service-managed keys). A customer
 * managed key would cost $1 a month — half of the ≤ $2 a deployment may cost before its first
 * snapshot (`make cost`) — and a key policy for logs.<region>.amazonaws.com, to protect volume and
 * snapshot ids, error messages and counts: no secret is ever logged.
 */
export const LOG_GROUP_KMS =
  "Encrypted at rest by CloudWatch Logs (service-managed keys). A customer managed key ($1 a month, half the deployment's " +
  '$2 fixed-cost budget) would protect only volume/snapshot ids, counts and error messages: no secret is logged.';
