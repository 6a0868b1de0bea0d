import { readdirSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';
import { chartForValues } from '../../src/cli/synth';
import { loadValues } from '../../src/values/values';
import { restrictedViolations } from '../tools/pod-security';
import { podTemplates } from '../tools/pod-templates';
import type { Manifest } from '../tools/manifest';

// Every pod this project emits meets the Kubernetes Pod Security Standards, level "restricted"
// (kubernetes.io/docs/concepts/security/pod-security-standards), which includes "baseline".
const EXAMPLES = join(__dirname, '..', '..', 'examples');

const sources: [string, () => Manifest[]][] = [
  ['the default chart', () => Testing.synth(new GaleraProxySqlChart(Testing.app(), 'c', {}))],
  ...readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).map((f): [string, () => Manifest[]] =>
    [`examples/${f}`, () => Testing.synth(chartForValues(Testing.app(), 'c', loadValues({ GALERA_VALUES: join(EXAMPLES, f) })))]),
];

test.each(sources)('every pod of %s meets the restricted Pod Security Standard', (_name, manifests) => {
  // GIVEN / WHEN
  const pods = podTemplates(manifests());
  // THEN
  expect(pods.length).toBeGreaterThanOrEqual(2);
  expect(pods.flatMap((p) => restrictedViolations(p.where, p.spec))).toEqual([]);
});

test('the check finds what the standard forbids', () => {
  const bad = {
    hostNetwork: true,
    volumes: [{ name: 'h', hostPath: { path: '/' } }],
    containers: [{
      name: 'c', securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] } }, ports: [{ containerPort: 1, hostPort: 1 }],
    }],
  };
  expect(restrictedViolations('x', bad)).toEqual(expect.arrayContaining([
    'x: hostNetwork', 'x: volume h of type hostPath', 'x container c: privileged', 'x container c: hostPort',
    'x container c: allowPrivilegeEscalation is not false', 'x container c: runAsNonRoot is not true',
    'x container c: seccompProfile is undefined',
    'x container c: capabilities do not drop ALL', 'x container c: adds capability SYS_ADMIN',
  ]));
});
