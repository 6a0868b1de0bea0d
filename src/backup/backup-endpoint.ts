import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { readScript } from '../core/scripts';
import { CertificateSpec, certificate } from '../tls/tls';
import type { BackendTopology } from '../core/backend';

/** Port of the backup endpoint (the "backup" sidecar, mutual TLS) on every database pod. */
export const BACKUP_PORT = 4445;

/** Props of BackupEndpoint. */
export interface BackupEndpointProps {
  /** The cluster whose pods serve backups; it must have TLS on (the endpoint knows the job by its client certificate). */
  readonly cluster: MariaDbCluster;
}

/**
 * The backup endpoint of a cluster's pods: a "backup" sidecar on the node image that streams
 * mariadb-backup over mutual TLS to the backup job's client certificate only
 * (scripts/backup/backup-endpoint.sh), with the node's own certificate for the server side,
 * the data volume and the socket. No probe: a sidecar never takes the node out of the Services.
 */
export class BackupEndpoint extends Construct {
  /** Port of the endpoint on every pod. */
  public readonly port = BACKUP_PORT;
  /** The common name the endpoint streams to (the backup job's client certificate). */
  public readonly clientCommonName: string;
  /** The Secret with the backup job's client certificate (ca.crt, tls.crt, tls.key). */
  public readonly clientSecretName: string;
  /** The client certificate that Secret must hold. */
  public readonly clientCertificateSpec: CertificateSpec;
  /** The cert-manager Certificate of the client, when tls.issuer is set. */
  public readonly clientCertificate?: ApiObject;

  constructor(scope: Construct, id: string, props: BackupEndpointProps) {
    super(scope, id);
    const cluster = props.cluster;
    if (!cluster.tls.enabled) {
      throw new Error(`BackupEndpoint '${id}': ${cluster.constructor.name} '${cluster.name}' has TLS off; `
        + 'the endpoint knows the backup job by its client certificate');
    }
    cluster._registerFeature(this);
    this.clientCommonName = `${cluster.name}-backup`;
    this.clientSecretName = `${cluster.name}-backup-tls`;
    this.clientCertificateSpec = {
      secretName: this.clientSecretName, commonName: this.clientCommonName, dnsNames: [this.clientCommonName], usages: ['client'],
    };
    if (cluster.tls.issuer) {
      this.clientCertificate = certificate(cluster, 'backup-client-certificate', cluster.namespace, cluster.labels,
        { kind: 'Issuer', group: 'cert-manager.io', ...cluster.tls.issuer }, this.clientCertificateSpec);
    }
    for (const [file, path] of Object.entries(backupScripts(cluster.topology, ['backup-endpoint.sh']))) {
      cluster.pods.addConfigFile(file, readScript(path));
    }
    cluster.pods.addSidecar((node) => node.container({
      name: 'backup',
      command: node.script('backup-endpoint.sh', 'listen'),
      extraEnv: [
        { name: 'BACKUP_TOPOLOGY', value: cluster.topology },
        { name: `${cluster._envName('BACKUP_PORT')}`, value: String(this.port) },
        { name: `${cluster._envName('BACKUP_CLIENT_CN')}`, value: this.clientCommonName },
      ],
      ports: { backup: this.port },
      resources: {
        requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
        limits: { memory: k8s.Quantity.fromString('1Gi') },
      },
    }));
  }
}

/**
 * Files of scripts/backup a backup script of `topology` needs next to `files`, by their name in a
 * ConfigMap: the shared helpers (backup-lib.sh) and the topology's own functions
 * (backup-galera.sh, backup-replication.sh). @internal
 */
export function backupScripts(topology: BackendTopology, files: readonly string[]): Record<string, string> {
  return Object.fromEntries([...files, 'backup-lib.sh', `backup-${topology}.sh`].map((f) => [f, `backup/${f}`]));
}
