// The construct for a CDK app of your own: `new EbsGens(this, 'Snapshots', { deployment: 'prod', … })`.
export { EbsGens, type EbsGensProps } from './ebs-gens';
export { FUNCTION_NAMES, type FunctionName, codeFromDirectory } from './functions';
export type { Adoption, Backend, EbsGensSettings, GenClass, StateMachineLogLevel } from './config';
