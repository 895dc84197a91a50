// What several test files build and read the same way: a stack from context settings, and its IAM
// statements.
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensStack } from '../lib/ebs-gens-stack';

/** The template of deployment `prod` with these context settings (bundling skipped). */
export const template = (context: Record<string, unknown>): Template => {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  return Template.fromStack(stack);
};

/** Every statement of every IAM policy in the template. */
export const statements = (t: Template): any[] =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);

/** A statement's actions, always a list. */
export const actions = (st: any): string[] => [st.Action].flat();
