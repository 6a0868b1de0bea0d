import type { KubeService, KubeStatefulSet } from '../../imports/k8s';
import type { BackendUser } from './accounts';
import type { TlsIssuer } from '../tls/tls';
import type { IProxySqlRouting } from '../proxysql/routing';

/**
 * What ProxySQL needs from the database it fronts. GaleraCluster implements it; any other
 * topology that does can be fronted the same way.
 */
export interface IProxySqlBackend {
  /**
   * How ProxySQL tells the writer from the readers: `galera` uses `mysql_galera_hostgroups`
   * (the wsrep status of every node), `replication` uses `mysql_replication_hostgroups` (the
   * server with read_only=0 is the writer, the others are readers).
   */
  readonly topology: BackendTopology;
  /** ProxySQL's writer and health rules for this topology. */
  readonly routing: IProxySqlRouting;
  /** Name of the backend (object name prefix, used in comments). */
  readonly name: string;
  /** Namespace of the backend's pods and Secret; ProxySQL runs in the same one. */
  readonly namespace: string;
  /** Number of database pods. */
  readonly replicas: number;
  /** Fully qualified DNS names of the database pods, ordinal 0 first. */
  readonly podDnsNames: readonly string[];
  /** MySQL port of the database pods. */
  readonly port: number;
  /** Secret with the passwords (keys in SECRET_KEYS). */
  readonly secretName: string;
  /** Application account that clients use through ProxySQL. */
  readonly appUser: string;
  /** Database the application account owns. */
  readonly appDatabase: string;
  /** Further accounts clients use through ProxySQL, their passwords in Secrets of the namespace. @default - none */
  readonly declaredUsers?: readonly BackendUser[];
  /** Version the servers announce in the handshake, e.g. '5.5.5-10.11.19-MariaDB' or '11.4.12-MariaDB'. */
  readonly serverVersion: string;
  /** An image with bash and the MariaDB client tools (the servers' image), for helper containers. */
  readonly image: string;
  /** How the backend speaks TLS; ProxySQL follows it. */
  readonly tls: BackendTls;
}

/** The data volumes of a database: their size and StorageClass. */
export interface DataVolumes {
  /** The claim template's owner (the StatefulSet's name). */
  readonly name: string;
  /** Size of each pod's volume. */
  readonly storageSize: string;
  /** StorageClass of the volumes; undefined is the cluster's default class. */
  readonly storageClassName?: string;
}

/**
 * What both topologies expose, so that other constructs (ProxySql, policies, Secrets generators,
 * the user's own) can wire to either: GaleraCluster and MariaDbReplication implement it.
 */
export interface IMariaDbCluster extends IProxySqlBackend {
  /** `host:port` of the Service clients use straight to the servers (Galera: galera-direct; primary/replica: the `-read` Service). */
  readonly endpoint: string;
  /** Every port of a database pod by name. */
  readonly ports: Readonly<Record<string, number>>;
  /** The data volumes. */
  readonly storage: DataVolumes;
  /** Labels that select the database pods. */
  readonly selectorLabels: Record<string, string>;
  /** The StatefulSet of the database pods. */
  readonly statefulSet: KubeStatefulSet;
  /** Headless Service that gives every pod its DNS name, ready or not. */
  readonly headlessService: KubeService;
  /** ClusterIP Service spreading reads over the ready pods. */
  readonly readService: KubeService;
}

/** The backend's TLS, as ProxySQL needs to know it. */
export interface BackendTls {
  /** The servers take TLS connections (and ProxySQL then uses TLS to them, monitor included). */
  readonly enabled: boolean;
  /** Plain-text clients are refused (ProxySQL then requires TLS from the application account too). */
  readonly requireSecureTransport: boolean;
  /** The cert-manager issuer, for ProxySQL's own certificate; undefined: Secrets from `npm run -s new-tls`. */
  readonly issuer?: TlsIssuer;
  /** Kubernetes cluster DNS domain, for the names in ProxySQL's certificate. */
  readonly clusterDomain: string;
}

/** The replication topologies ProxySQL knows how to route for. */
export type BackendTopology = 'galera' | 'replication';
/** Every BackendTopology. @internal */
export const BACKEND_TOPOLOGIES: readonly BackendTopology[] = ['galera', 'replication'];

/**
 * Server version announced when it cannot be derived from the image: that of the default image,
 * mariadb:10.11.19 (MariaDB 10.x greets with the '5.5.5-' prefix).
 */
export const DEFAULT_SERVER_VERSION = '5.5.5-10.11.19-MariaDB';

/**
 * The version a MariaDB image announces: '5.5.5-10.11.19-MariaDB' for tag 10.11.19 (MariaDB 10.x servers
 * announce themselves with the '5.5.5-' prefix), 11.0 and later without (MDEV-28910). Undefined
 * when the tag is not a version (latest, lts, a digest).
 */
export function serverVersionForImage(image: string): string | undefined {
  if (image.includes('@')) return undefined;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= lastSlash) return undefined;
  const m = /^([0-9]{1,2})\.([0-9]{1,2})(?:\.([0-9]{1,3}))?(?:$|[-.+_])/.exec(image.slice(colon + 1));
  if (!m) return undefined;
  const version = `${m[1]}.${m[2]}.${m[3] ?? '0'}-MariaDB`;
  return Number(m[1]) < 11 ? `5.5.5-${version}` : version;
}
