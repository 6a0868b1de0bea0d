import { Testing } from 'cdk8s';

/**
 * A synthesized object as cdk8s types what Testing.synth returns (untyped JSON): the tests navigate
 * it freely and assert on what they find. Objects with a shape of their own (containers, env vars,
 * volumes, mounts) are typed with the harness's model (harness/spec.ts) where a test reads them.
 */
export type Manifest = ReturnType<typeof Testing.synth>[number];
