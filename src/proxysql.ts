import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { GaleraCluster } from './galera-cluster';
import { Checker } from './validation';

export interface ProxySqlProps {
  /** The Galera cluster this ProxySQL routes to: servers, ports and the Secret come from it. */
  readonly galera: GaleraCluster;
  /** Name of the Deployment and the client Service. @default '<galera name>-proxysql' */
  readonly name?: string;
  /** Number of ProxySQL pods. @default 3 */
  readonly replicas?: number;
}

/** The ProxySqlProps keys a values file may set (everything but the galera reference). */
export const PROXYSQL_VALUE_KEYS: readonly string[] = ['name', 'replicas'];

/** PLACEHOLDER until the ProxySQL issue lands: Deployment and Service for clients. */
export class ProxySql extends Construct {
  public readonly name: string;
  public readonly service: k8s.KubeService;
  public readonly deployment: k8s.KubeDeployment;
  public readonly port = 6033;

  constructor(scope: Construct, id: string, props: ProxySqlProps) {
    super(scope, id);
    const c = new Checker(`ProxySql '${props.name ?? `${props.galera.name}-proxysql`}'`);
    c.integer('replicas', props.replicas, 1, 99);
    c.throwIfAny();
    this.name = props.name ?? `${props.galera.name}-proxysql`;
    const labels = { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': this.name };
    this.service = new k8s.KubeService(this, 'service', {
      metadata: { name: this.name, namespace: props.galera.namespace, labels },
      spec: { selector: labels, ports: [{ name: 'mysql', port: 3306, targetPort: k8s.IntOrString.fromNumber(6033) }] },
    });
    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: this.name, namespace: props.galera.namespace, labels },
      spec: {
        replicas: props.replicas ?? 3,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'proxysql', image: 'docker.io/proxysql/proxysql:2.7.3' }] } },
      },
    });
  }
}
