// The kinds of strings the props accept. Each type's JSDoc is its JSON schema (tools/values-schema.ts
// turns @pattern into the schema's pattern): the first sentence says what is allowed, and is what an
// error message and an editor show when a value does not match.

/**
 * a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)
 * @pattern ^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$
 */
export type DnsLabel = string;

/**
 * a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 40 characters)
 * @pattern ^(?=.{1,40}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$
 */
export type ClusterName = string;

/**
 * a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 50 characters)
 * @pattern ^(?=.{1,50}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$
 */
export type ProxySqlName = string;

/**
 * a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)
 * @pattern ^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
 */
export type DnsSubdomain = string;

/**
 * a host name or IPv4 address (lowercase letters, digits, '-' and '.', at most 253 characters)
 * @pattern ^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
 */
export type HostName = string;

/**
 * a DNS domain such as cluster.local
 * @pattern ^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$
 */
export type DnsDomain = string;

/**
 * a Kubernetes quantity such as '500m', '1Gi' or '10Gi'
 * @pattern ^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$
 */
export type Quantity = string;

/**
 * a storage size such as 10Gi (no millis), larger than zero
 * @pattern ^(?![0.]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$)[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$
 */
export type StorageSize = string;

/**
 * an image reference such as docker.io/library/mariadb:10.11.19
 * @pattern ^[a-z0-9][a-z0-9._\-/:@]*$
 */
export type ImageReference = string;

/**
 * a label key such as 'app' or 'topology.kubernetes.io/zone'
 * @pattern ^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$
 */
export type LabelKey = string;

/**
 * a label value (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)
 * @pattern ^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$
 */
export type LabelValue = string;

/** a mapping of label keys to label values */
export type Labels = Record<LabelKey, LabelValue>;

/**
 * a CIDR such as '10.0.0.0/8'
 * @pattern ^[0-9.]+\/[0-9]{1,2}$|^[0-9a-f:]+\/[0-9]{1,3}$
 */
export type Cidr = string;

/**
 * a MariaDB user name of letters, digits and _ (at most 32 characters)
 * @pattern ^[a-zA-Z_][a-zA-Z0-9_]{0,31}$
 */
export type MariaDbUserName = string;

/**
 * a database name of letters, digits and _ (at most 64 characters)
 * @pattern ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$
 */
export type DatabaseName = string;

/**
 * a table name of letters, digits and _ (at most 64 characters)
 * @pattern ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$
 */
export type TableName = string;

/**
 * a Secret key (letters, digits, '-', '_' and '.', at most 253 characters)
 * @pattern ^[-._a-zA-Z0-9]{1,253}$
 */
export type SecretKeyName = string;

/**
 * a MariaDB character set name such as utf8mb4 (lowercase letters and digits)
 * @pattern ^[a-z0-9]{1,32}$
 */
export type CharacterSetName = string;

/**
 * a MariaDB collation name such as utf8mb4_general_ci (lowercase letters, digits and _)
 * @pattern ^[a-z0-9_]{1,64}$
 */
export type CollationName = string;

/**
 * a byte size with an optional K, M or G suffix, such as '512M' or '4G'
 * @pattern ^[0-9]+[KMG]?$
 */
export type MyCnfSize = string;

/**
 * a single 'key=value' line without a [section] header or !include
 * @pattern ^(?!\s*[[!])[^\n\r]*$
 */
export type MyCnfLine = string;

/**
 * a Galera provider option name such as 'evs.suspect_timeout'
 * @pattern ^[a-z_]+(\.[a-z_]+)+$
 */
export type GaleraOptionName = string;

/**
 * a non-empty string without ';', '"' or newlines
 * @pattern ^[^;"\n\r]+$
 */
export type GaleraOptionValue = string;

/** a mapping of option names to strings, such as { 'gcache.size': '1G' } */
export type GaleraProviderOptions = Record<GaleraOptionName, GaleraOptionValue>;

/**
 * a server version such as '11.4.12-MariaDB' or '5.5.5-10.11.9-MariaDB' (digits, dots, an optional -suffix)
 * @pattern ^(5\.5\.5-)?[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,3}(-[A-Za-z0-9._+~-]{1,40})?$
 */
export type ServerVersion = string;

/**
 * a cron schedule of five fields such as '0 3 * * *', or '@daily'
 * @pattern ^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$
 */
export type CronSchedule = string;

/**
 * an IANA time zone such as 'Europe/Berlin'
 * @pattern ^[A-Za-z]+(\/[A-Za-z0-9_+-]+)*$
 */
export type TimeZone = string;

/**
 * an http(s) URL such as 'https://minio.storage.svc:9000'
 * @pattern ^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[^\s]*)?$
 */
export type HttpUrl = string;

/**
 * an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')
 * @pattern ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$
 */
export type BucketName = string;

/**
 * a key prefix of letters, digits and !_.*'()- separated by '/'
 * @pattern ^([A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*)?$
 */
export type KeyPrefix = string;

/**
 * a region such as 'eu-west-1'
 * @pattern ^[a-z0-9-]{1,32}$
 */
export type Region = string;

/**
 * 'latest' or a backup name such as 'galera-20261130T030000Z'
 * @pattern ^(latest|[a-z0-9][-a-z0-9]*-[0-9]{8}T[0-9]{6}Z)$
 */
export type BackupName = string;

/**
 * 'latest' (everything archived) or a UTC time to the second in RFC 3339, such as
 * '2026-12-06T14:03:07Z' (binlog events carry whole seconds)
 * @pattern ^(latest|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$
 */
export type PointInTime = string;

/**
 * a MariaDB GTID domain-server-seq such as '0-1-901'
 * @pattern ^[0-9]{1,10}-[0-9]{1,10}-[0-9]{1,20}$
 */
export type Gtid = string;

/**
 * a Prometheus duration in seconds or minutes such as '30s' or '1m'
 * @pattern ^[1-9][0-9]*(s|m)$
 */
export type PrometheusDuration = string;
