import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { container } from '../core/pod';
import { SECRET_KEYS } from '../core/credentials';
import type { ImageReference } from '../values/formats';

/** mysqld_exporter 0.14.0, the version whose flags the tests run (Debian's prometheus-mysqld-exporter). */
export const DEFAULT_MYSQLD_EXPORTER_IMAGE = 'docker.io/prom/mysqld-exporter:v0.14.0';
/** Port of the mysqld-exporter sidecar ("metrics"). */
export const EXPORTER_PORT = 9104;
/** The exporter's account, `exporter@localhost`. @internal */
export const EXPORTER_USER = 'exporter';

/** The mysqld-exporter sidecar of every database pod. */
export interface MetricsExporterProps {
  /**
   * Run the exporter: it connects over the node's socket as `exporter@localhost` (created by the
   * node scripts with the Secret key `exporter-password`) and serves /metrics on port 9104.
   * @default false
   */
  readonly enabled?: boolean;
  /**
   * Image; the flags given are those of mysqld_exporter 0.14 (DEFAULT_MYSQLD_EXPORTER_IMAGE).
   * @default 'docker.io/prom/mysqld-exporter:v0.14.0'
   */
  readonly image?: ImageReference;
}

/** @internal */
export function resolveMetricsExporter(given: MetricsExporterProps | undefined): { image: string } | undefined {
  return given?.enabled ? { image: given.image ?? DEFAULT_MYSQLD_EXPORTER_IMAGE } : undefined;
}

/**
 * The flags of the exporter (mysqld_exporter 0.14): SHOW GLOBAL STATUS (every wsrep_* and
 * semi-sync figure) and VARIABLES, the process list, and on the primary/replica topology or a
 * cluster with an external source SHOW SLAVE STATUS (lag, IO and SQL threads); its own statements
 * kept out of the slow log. @internal
 */
export function exporterArgs(slaveStatus: boolean): string[] {
  return [
    `--web.listen-address=:${EXPORTER_PORT}`, '--collect.global_status', '--collect.global_variables',
    slaveStatus ? '--collect.slave_status' : '--no-collect.slave_status', '--collect.info_schema.processlist', '--exporter.log_slow_filter',
  ];
}

/** Props of MetricsExporter. */
export interface MetricsExporterAttachProps {
  /** The cluster whose pods get the sidecar (a GaleraCluster or a MariaDbReplication). */
  readonly cluster: MariaDbCluster;
  /** Image of the sidecar; its flags are those of mysqld_exporter 0.14. @default DEFAULT_MYSQLD_EXPORTER_IMAGE */
  readonly image?: string;
}

/**
 * A mysqld-exporter sidecar in every pod of a cluster: it reaches the server over the socket as
 * exporter@localhost, which the node scripts create when they see NODE_EXPORTER_USER. The
 * password comes from the Secret into the environment (DATA_SOURCE_NAME, which 0.14 reads), never
 * onto a command line or into a ConfigMap. No probe: a sidecar never takes the node out of the Services.
 */
export class MetricsExporter extends Construct {
  /** The port of /metrics on every pod, named `metrics`. */
  public readonly port = EXPORTER_PORT;
  /** The image of the sidecar. */
  public readonly image: string;

  constructor(scope: Construct, id: string, props: MetricsExporterAttachProps) {
    super(scope, id);
    const cluster = props.cluster;
    this.image = props.image ?? DEFAULT_MYSQLD_EXPORTER_IMAGE;
    cluster._registerFeature(this);
    cluster.pods.addNodeEnv(cluster._envName('EXPORTER_USER'), EXPORTER_USER);
    cluster.pods.addPort('metrics', this.port);
    cluster.pods.addSidecar((node) => container({
      name: 'metrics', image: this.image, imagePullPolicy: node.imagePullPolicy,
      command: ['mysqld_exporter'],
      args: exporterArgs(cluster.topology === 'replication' || cluster.source !== undefined),
      env: [
        { name: 'EXPORTER_PASSWORD', valueFrom: { secretKeyRef: { name: cluster.secretName, key: SECRET_KEYS.exporter } } },
        // The parameters part must be there: 0.14 appends its own with '&' when the DSN holds a '?'
        // anywhere (a password may), else with '?' (tested with such a password in the cluster test).
        { name: 'DATA_SOURCE_NAME', value: `${EXPORTER_USER}:$(EXPORTER_PASSWORD)@unix(${node.paths.socketDir}/mysqld.sock)/?timeout=5s` },
      ],
      ports: { metrics: this.port },
      volumeMounts: [{ name: 'socket', mountPath: node.paths.socketDir, readOnly: true }],
      resources: {
        requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('32Mi') },
        limits: { memory: k8s.Quantity.fromString('128Mi') },
      },
    }));
  }
}
