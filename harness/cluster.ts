// PodCluster: one harness run. Runs the pods of the synthesized StatefulSets, Deployments and
// Jobs for real, the way a kubelet would, each pod in its own network namespace on a private
// bridge. Needs root and Debian's iproute2, util-linux (unshare, nsenter, setpriv, mount),
// mariadb-client and socat.
//
// How Kubernetes maps onto this machine
// - Every pod slot k = network namespace <prefix>-p<k> with eth0 (a veth into the run's bridge)
//   at 10.250.X.(10+k)/24 and lo; the root namespace gets no address, so nothing leaves the
//   bridge. StatefulSet pods get a slot per ordinal up to their maxPods, Deployment pods one per
//   replica, Job pods one each when they run. Client namespaces on the same bridge stand for
//   other pods (load generators, the kubectl of a user, a pod outside a NetworkPolicy).
// - Pod DNS: /etc/netns/<ns>/hosts (bind-mounted over /etc/hosts by `ip netns exec`) maps
//   <sts>-<i>.<svc>.<ns>.svc.<domain> and the short forms .<svc>.<ns>.svc, .<svc>.<ns>, .<svc>
//   of every StatefulSet ordinal (stopped or not, like publishNotReadyAddresses), plus the pod's
//   own name in its own file; resolv.conf points at nothing, so other names fail fast.
// - Containers, volumes, users and the life cycle: see containers.ts, volumes.ts and pod.ts.
//
// Not emulated: images (the host's binaries run, each container seeing on its PATH only those
// its image's list in harness/images names), resource limits and requests, seccomp,
// Services other than the headless DNS names, scheduling, httpGet/gRPC probes, hostPath and
// projected volumes, ConfigMap/Secret updates reaching a *running* container (they are
// re-projected at each container start), a new pod IP on re-creation (opt in: startPod(i, { newIp: true })).
import { lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { basename, join, resolve } from 'path';
import { ExecResult } from './containers';
import { linkImagePrograms, programsOf } from './images';
import { droppedPackets, enforce, findNetworkPolicies, NetworkPolicy, PolicyEndpoint } from './network-policy';
import { startWriter, verifyLedger, verifyOpsLedger, WriterHandle, WriterOptions, LedgerReport, OpsLedgerReport } from './ledger';
import {
  BRIDGE, chooseSubnetOctet, DEFAULT_RUN_ROOT, destroyPrefix, FINISHED_MARKER, IP, ipSync, newPrefix, register, removeLeftovers,
} from './netns';
import { PodHost, PodRuntime } from './pod';
import { guard, killGroups, netnsPids, pidAlive, pidStartTime, run, RunResult, runOk, runSync, which } from './proc';
import { ConfigMap, ContainerConfigError, CronJob, findWorkloads, K8sObject, PodTemplate, WorkloadObject } from './spec';
import { Workload } from './workload';

const WRITER_JS = resolve(__dirname, 'writer.js');
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PodClusterOptions {
  /** The chart's synthesized objects (Testing.synth(chart), or the parsed dist/*.k8s.yaml documents). */
  readonly manifests: readonly object[];
  /** Secrets by name (plain strings, not base64); a Secret not listed does not exist. */
  readonly secrets?: Record<string, Record<string, string>>;
  /** Data of every Secret any pod names (when the test does not care for names); null = no Secret exists. */
  readonly secret?: Record<string, string> | null;
  /** Directory for data volumes, emptyDirs and logs. @default /var/tmp/galera-pods/<prefix> (removed by cleanup(), logs kept a day) */
  readonly runDir?: string;
  /** Pod slots per StatefulSet (ordinals 0..maxPods-1) or per workload name. @default replicas + 2, at least 1 */
  readonly maxPods?: number | Record<string, number>;
  /** Run only these workloads (names); others in the manifests are ignored. @default all */
  readonly workloads?: readonly string[];
  /** Kubernetes cluster domain used in the pod DNS names. @default 'cluster.local' */
  readonly clusterDomain?: string;
  /** Run startup, liveness and readiness probes in the background and act on them like the kubelet. @default true */
  readonly kubeletProbes?: boolean;
  /** Restart back-off of crashed containers: initialMs doubling up to maxMs. @default 1000 / 10000 */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Keep the run directory (data volumes and logs) after cleanup(). @default process.env.GALERA_PODS_KEEP === '1' */
  readonly keepRunDir?: boolean;
  /**
   * The programs a container finds on its PATH. 'image': only those its image ships (the lists in
   * harness/images; an image without a list is a CreateContainerConfigError). 'host': all of this
   * machine's, for containers of no real image (the harness's own tests).
   * @default 'image'
   */
  readonly programs?: 'image' | 'host';
  /**
   * Programs an image has that this machine has elsewhere or under another name, by name (e.g.
   * proxysql: $PROXYSQL_BIN); linked for the containers whose image lists them.
   */
  readonly binaries?: Record<string, string>;
  /**
   * Enforce the manifests' NetworkPolicies with nftables in every namespace (see
   * network-policy.ts). @default true when the manifests hold NetworkPolicies
   */
  readonly networkPolicies?: boolean;
  /** Labels of the default client namespace's "pod" (policies select it by them); it is in the workloads' namespace. @default {} */
  readonly clientLabels?: Record<string, string>;
}

/** A network namespace of the run: a pod slot or a client. */
export interface Slot { readonly ns: string; readonly veth: string; ip: string }

/** A client namespace stands for a pod of some application: its labels and Kubernetes namespace. */
interface Client extends Slot { labels: Record<string, string>; namespace: string }

const live = new Set<PodCluster>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const h of live) h.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      for (const h of live) h.cleanupSync();
      // Re-raise with the default action unless someone else handles the signal.
      if (process.listenerCount(sig) <= 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

function idOf(flag: '-u' | '-g', user: string): number {
  const r = runSync(which('id'), [flag, user]);
  if (r.status !== 0) throw new Error(`user ${user} not found; install mariadb-server (it creates the mysql user)`);
  return Number(r.stdout.trim());
}

export class PodCluster implements PodHost {
  /** Unique per run; every namespace, link and directory of the run starts with it. */
  public readonly prefix: string;
  public readonly runDir: string;
  public readonly clusterDomain: string;
  /** uid and gid of the local `mysql` user that stands for the images' 999. */
  public readonly mysqlUid: number;
  public readonly mysqlGid: number;
  public readonly kubeletProbes: boolean;
  public readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** The default client namespace (load generators), on the same bridge. */
  public readonly clientNs: string;
  public readonly clientIp: string;

  private readonly configMaps = new Map<string, Record<string, Buffer>>();
  private readonly imageBinDirs = new Map<string, string>();
  private readonly secretsByName = new Map<string, Record<string, Buffer>>();
  private anySecret: Record<string, Buffer> | null = null;
  private readonly workloadsByName = new Map<string, Workload>();
  private readonly slots: Slot[] = [];
  private readonly clients = new Map<string, Client>();
  private readonly jobSlots = new Map<Slot, { labels: Record<string, string>; namespace: string }>();
  private policies: NetworkPolicy[] = [];
  private enforcePolicies: boolean;
  private readonly extraHosts = new Map<string, string>();
  private readonly jobPods = new Set<PodRuntime>();
  /** Load generators of the run (writers, workloads): killed by cleanup. */
  private readonly writers = new Set<{ kill(): void }>();
  private readonly clientProcs = new Set<number>();
  private readonly runDirOwned: boolean;
  private readonly subnet: string;
  private nextIp = 10;
  private setUp = false;
  private closed = false;
  private writerSeq = 0;
  private jobSeq = 0;

  constructor(private readonly opts: PodClusterOptions) {
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    this.kubeletProbes = opts.kubeletProbes !== false;
    this.backoff = { initialMs: opts.backoff?.initialMs ?? 1000, maxMs: opts.backoff?.maxMs ?? 10_000 };
    this.mysqlUid = idOf('-u', 'mysql');
    this.mysqlGid = idOf('-g', 'mysql');
    this.prefix = newPrefix();
    this.runDirOwned = opts.runDir === undefined;
    this.runDir = resolve(opts.runDir ?? join(DEFAULT_RUN_ROOT, this.prefix));
    // A private /24 that exists only inside this run's namespaces and bridge (the root
    // namespace gets no address), so overlapping runs cannot collide; the third octet varies
    // with the pid anyway to keep logs of parallel runs apart.
    this.subnet = `10.250.${chooseSubnetOctet()}`;
    this.clientNs = `${this.prefix}-c`;
    this.clientIp = `${this.subnet}.250`;
    this.policies = findNetworkPolicies(opts.manifests);
    this.enforcePolicies = opts.networkPolicies ?? this.policies.length > 0;
    if (opts.secret !== undefined) this.setSecret(null, opts.secret);
    for (const [name, data] of Object.entries(opts.secrets ?? {})) this.setSecret(name, data);
    this.loadConfigMaps(opts.manifests);
    for (const w of findWorkloads(opts.manifests)) {
      const name = w.metadata.name ?? '';
      if (opts.workloads && !opts.workloads.includes(name)) continue;
      const given = typeof opts.maxPods === 'number' ? (w.kind === 'StatefulSet' ? opts.maxPods : undefined) : opts.maxPods?.[name];
      const count = given ?? Math.max(1, (w.spec.replicas ?? 1) + (w.kind === 'StatefulSet' ? 2 : 0));
      if (!Number.isInteger(count) || count < 1 || count > 40) throw new Error(`maxPods of ${name} must be 1..40, got ${count}`);
      const slots = Array.from({ length: count }, () => this.newSlot());
      this.workloadsByName.set(name, new Workload(this, w, slots));
    }
    if (this.workloadsByName.size === 0) throw new Error('the manifests hold no StatefulSet or Deployment to run');
    this.clients.set('c', {
      ns: this.clientNs, veth: `${this.prefix}hc`, ip: this.clientIp, labels: opts.clientLabels ?? {},
      namespace: this.workloads[0].namespace,
    });
  }

  private newSlot(): Slot {
    const k = this.slots.length;
    if (this.nextIp > 240) throw new Error('out of pod addresses');
    const slot = { ns: `${this.prefix}-p${k}`, veth: `${this.prefix}h${k}`, ip: `${this.subnet}.${this.nextIp++}` };
    this.slots.push(slot);
    return slot;
  }

  /** The workload (StatefulSet or Deployment) of that name. */
  public workload(name: string): Workload {
    const w = this.workloadsByName.get(name);
    if (!w) throw new Error(`no workload ${name}; the run has ${[...this.workloadsByName.keys()].join(', ')}`);
    return w;
  }

  /** The only StatefulSet of the run (or the one named). */
  public statefulSet(name?: string): Workload {
    const all = [...this.workloadsByName.values()].filter((w) => w.kind === 'StatefulSet' && (name === undefined || w.name === name));
    if (all.length !== 1) throw new Error(`expected one StatefulSet${name ? ` named ${name}` : ''}, the run has ${all.length}`);
    return all[0];
  }

  public get workloads(): Workload[] {
    return [...this.workloadsByName.values()];
  }

  // ---------------------------------------------------------------- data sources

  private loadConfigMaps(manifests: readonly object[]): void {
    this.configMaps.clear();
    for (const o of manifests as K8sObject[]) {
      if (o?.kind !== 'ConfigMap') continue;
      const cm = o as unknown as ConfigMap;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(cm.data ?? {})) data[k] = Buffer.from(v, 'utf8');
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) data[k] = Buffer.from(v, 'base64');
      this.configMaps.set(cm.metadata.name ?? '', data);
    }
  }

  public configMap(name: string): Record<string, Buffer> | undefined { return this.configMaps.get(name); }
  public secret(name: string): Record<string, Buffer> | undefined { return this.secretsByName.get(name) ?? this.anySecret ?? undefined; }

  /**
   * The environment an image sets (its Dockerfile ENV: PATH and LANG), the PATH holding only the
   * image's programs (see harness/images.ts). Throws a ContainerConfigError for an image without a list.
   */
  public imageEnv(image: string | undefined): Record<string, string> {
    if (this.opts.programs === 'host') return { PATH: IMAGE_PATH, LANG: 'C.UTF-8' };
    const list = image === undefined ? undefined : programsOf(image);
    if (!list) {
      throw new ContainerConfigError(`image ${JSON.stringify(image ?? '')}: the harness has no list of its programs `
        + '(add one to harness/images, or run the cluster with programs: \'host\')');
    }
    let dir = this.imageBinDirs.get(list.file);
    if (dir === undefined) {
      dir = join(this.runDir, 'images', basename(list.file, '.programs'));
      linkImagePrograms(dir, list, this.opts.binaries ?? {});
      this.imageBinDirs.set(list.file, dir);
    }
    return { PATH: dir, LANG: 'C.UTF-8' };
  }

  /**
   * Creates, changes or (null) deletes a Secret; name null stands for every Secret (the options'
   * `secret`). Containers see it from their next start.
   */
  public setSecret(name: string | null, data: Record<string, string> | null): void {
    const buffers = data === null ? null : Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
    if (name === null) this.anySecret = buffers;
    else if (buffers === null) this.secretsByName.delete(name);
    else this.secretsByName.set(name, buffers);
  }

  /**
   * Changes a Secret and, as the kubelet does after its sync period, the files of every running
   * pod that mounts it (atomically; subPath mounts would not change, and none are used).
   * Returns how many pods saw the change.
   */
  public updateSecret(name: string, data: Record<string, string>): number {
    this.setSecret(name, data);
    const pods = [...this.workloads.flatMap((w) => w.runtimes), ...this.jobPods];
    return pods.filter((p) => p.refreshSecret(name) > 0).length;
  }

  /**
   * Applies new manifests, like `kubectl apply`: pods started from now on use the new
   * workloads; running pods keep their spec (restart them for a rolling update) but see the
   * new ConfigMap contents from their next container start.
   */
  public setManifests(manifests: readonly object[]): void {
    for (const w of findWorkloads(manifests)) this.workloadsByName.get(w.metadata.name ?? '')?.update(w as WorkloadObject);
    this.loadConfigMaps(manifests);
    this.policies = findNetworkPolicies(manifests);
    this.refreshNetworkPolicies();
  }

  /** Every network endpoint with the labels policies select it by. */
  public policyEndpoints(): PolicyEndpoint[] {
    const out: PolicyEndpoint[] = [];
    for (const w of this.workloads) {
      w.forEachSlot((i, slot) => out.push({ ns: slot.ns, ip: slot.ip, namespace: w.namespace, labels: {
        ...(w.template.metadata?.labels ?? {}), 'statefulset.kubernetes.io/pod-name': w.podName(i),
      } }));
    }
    for (const [slot, meta] of this.jobSlots) out.push({ ns: slot.ns, ip: slot.ip, ...meta });
    for (const c of this.clients.values()) out.push({ ns: c.ns, ip: c.ip, namespace: c.namespace, labels: c.labels });
    return out;
  }

  /** Applies the NetworkPolicies again (pods, addresses or policies changed). */
  public refreshNetworkPolicies(): void {
    if (this.setUp && !this.closed && this.enforcePolicies) enforce(this.policies, this.policyEndpoints());
  }

  /**
   * Turns the policies' enforcement on or off in every namespace (off: the nftables chains stay,
   * empty and accepting), to measure what the rules cost.
   */
  public setPolicyEnforcement(on: boolean): void {
    this.enforcePolicies = on;
    if (on) this.refreshNetworkPolicies();
    else if (this.setUp && !this.closed) enforce([], this.policyEndpoints());
  }

  /** Packets the policies dropped in a namespace so far (their drop counters). */
  public droppedPackets(ns: string): number {
    const e = this.policyEndpoints().find((x) => x.ns === ns);
    return e ? droppedPackets(e) : 0;
  }

  // ---------------------------------------------------------------- network

  /** Bridge, one namespace per pod slot plus the client namespaces, hosts files. */
  public async setup(): Promise<void> {
    if (this.setUp) throw new Error('setup() was already called');
    if (process.getuid?.() !== 0) throw new Error('the pod harness needs root (network namespaces, mounts)');
    installExitHandlers();
    removeLeftovers();
    register({
      prefix: this.prefix, pid: process.pid, startTime: pidStartTime(process.pid), runDir: this.runDir, runDirOwned: this.runDirOwned,
      subnet: this.subnet, created: new Date().toISOString(),
    });
    live.add(this);
    this.setUp = true;
    // where to look when a scenario fails (a loop of runs records it per run)
    process.stderr.write(`pod harness: run ${this.prefix}, pod logs and events in ${join(this.runDir, 'pods')} (kept a day)\n`);
    mkdirSync(join(this.runDir, 'pods'), { recursive: true });
    mkdirSync(join(this.runDir, 'pvc'), { recursive: true });
    const br = `${this.prefix}br`;
    ipSync(['link', 'add', br, 'type', 'bridge']);
    disableIpv6(br);
    ipSync(['link', 'set', br, 'up']);
    for (const slot of [...this.slots, ...this.clients.values()]) await this.plug(slot);
    this.writeHostsFiles();
    this.refreshNetworkPolicies();
  }

  /** Creates the namespace of a slot and connects it to the bridge. */
  private async plug(slot: Slot): Promise<void> {
    ipSync(['netns', 'add', slot.ns]);
    ipSync(['link', 'add', slot.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', slot.ns]);
    disableIpv6(slot.veth);
    ipSync(['link', 'set', slot.veth, 'master', `${this.prefix}br`, 'up']);
    await runOk(
      IP,
      ['netns', 'exec', slot.ns, which('sysctl'), '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
      { timeoutMs: 10_000 },
    );
    ipSync(['-n', slot.ns, 'link', 'set', 'lo', 'up']);
    ipSync(['-n', slot.ns, 'addr', 'add', `${slot.ip}/24`, 'dev', 'eth0']);
    ipSync(['-n', slot.ns, 'link', 'set', 'eth0', 'up']);
  }

  /**
   * Another client namespace on the bridge: a pod of some other application, with labels, in a
   * Kubernetes namespace (the workloads' by default), as NetworkPolicies see it.
   */
  public async addClient(name: string, opts: { labels?: Record<string, string>; namespace?: string } = {}): Promise<Slot> {
    this.assertUsable();
    if (!/^[a-z][a-z0-9]{0,2}$/.test(name) || this.clients.has(name)) throw new Error(
      `client name ${name} must be 1-3 lowercase letters/digits and new`,
    );
    const slot = { ns: `${this.prefix}-c${name}`, veth: `${this.prefix}c${name}`, ip: `${this.subnet}.${251 + this.clients.size - 1}`,
      labels: opts.labels ?? {}, namespace: opts.namespace ?? this.workloads[0].namespace };
    this.clients.set(name, slot);
    await this.plug(slot);
    this.writeHostsFiles();
    this.refreshNetworkPolicies();
    return slot;
  }

  /** A Job's pod: its own namespace, created now, with the pod's labels for the policies. */
  public async newJobSlot(labels: Record<string, string> = {}, namespace = this.workloads[0].namespace): Promise<Slot> {
    const slot = this.newSlot();
    await this.plug(slot);
    this.jobSlots.set(slot, { labels, namespace });
    this.writeHostsFiles();
    this.refreshNetworkPolicies();
    return slot;
  }

  /** Adds a name to every hosts file (e.g. a Service name for one pod's address). */
  public setHost(name: string, ip: string | null): void {
    if (ip === null) this.extraHosts.delete(name);
    else this.extraHosts.set(name, ip);
    if (this.setUp) this.writeHostsFiles();
  }

  /** Kubelet-style hosts file per namespace plus the cluster DNS names of every StatefulSet pod. */
  public writeHostsFiles(): void {
    const entries: { ns: string; ip: string; names: string[]; own: string }[] = [];
    for (const w of this.workloads) {
      w.forEachSlot((i, slot) => {
        const own = w.podName(i);
        const names = w.kind === 'StatefulSet' ? w.dnsNames(i) : [];
        entries.push({ ns: slot.ns, ip: slot.ip, names, own });
      });
    }
    const search = (ns: string) => `${ns}.svc.${this.clusterDomain} svc.${this.clusterDomain} ${this.clusterDomain}`;
    const namespace = this.workloads[0].namespace;
    const files = [...this.slots.map((s) => s.ns), ...[...this.clients.values()].map((c) => c.ns)];
    for (const ns of files) {
      const dir = join('/etc/netns', ns);
      mkdirSync(dir, { recursive: true });
      const lines = [
        '# Kubernetes-managed hosts file (galera-pods harness).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
      ];
      for (const e of entries) {
        const mine = e.ns === ns;
        if (e.names.length === 0 && !mine) continue;
        const slot = this.slots.find((s) => s.ns === e.ns)!;
        lines.push(`${slot.ip}\t${[...e.names, ...(mine ? [e.own] : [])].join(' ')}`);
      }
      for (const [name, ip] of this.extraHosts) lines.push(`${ip}\t${name}`);
      // Written in place (same inode): running processes see it through their bind mount.
      writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
      // No resolver is reachable: names outside the hosts file fail at once. (ip netns exec can
      // only bind-mount it over a regular /etc/resolv.conf, not over a symlink.)
      if (!lstatSync('/etc/resolv.conf', { throwIfNoEntry: false })?.isSymbolicLink()) {
        writeFileSync(
          join(dir, 'resolv.conf'), `search ${search(namespace)}\nnameserver 127.0.0.1\noptions ndots:5 timeout:1 attempts:1\n`,
        );
      }
    }
  }

  /** Gives a slot a new address (a rescheduled pod) and updates every hosts file. */
  public changeIp(slot: Slot): void {
    if (this.nextIp > 240) throw new Error('out of pod addresses');
    const ip = `${this.subnet}.${this.nextIp++}`;
    ipSync(['-n', slot.ns, 'addr', 'flush', 'dev', 'eth0']);
    ipSync(['-n', slot.ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    slot.ip = ip;
    this.writeHostsFiles();
    this.refreshNetworkPolicies();
  }

  /** Cuts a slot off from every other namespace (packets are silently dropped); heal() restores it. */
  public partition(slot: Slot): void {
    const r = runSync(BRIDGE, ['link', 'set', 'dev', slot.veth, 'state', '0']);
    if (r.status !== 0) throw new Error(`partition(${slot.ns}): ${r.stderr}`);
  }

  /**
   * Drops all traffic between two slots (a blackhole route in each namespace), leaving their
   * traffic with everyone else alone; unblock() removes it.
   */
  public block(a: Slot, b: Slot): void {
    ipSync(['-n', a.ns, 'route', 'add', 'blackhole', `${b.ip}/32`]);
    ipSync(['-n', b.ns, 'route', 'add', 'blackhole', `${a.ip}/32`]);
  }

  public unblock(a: Slot, b: Slot): void {
    runSync(IP, ['-n', a.ns, 'route', 'del', 'blackhole', `${b.ip}/32`]);
    runSync(IP, ['-n', b.ns, 'route', 'del', 'blackhole', `${a.ip}/32`]);
  }

  public heal(slot: Slot): void {
    const r = runSync(BRIDGE, ['link', 'set', 'dev', slot.veth, 'state', '3']);
    if (r.status !== 0) throw new Error(`heal(${slot.ns}): ${r.stderr}`);
  }

  // ---------------------------------------------------------------- jobs

  /**
   * Runs a CronJob's job now, like `kubectl create job --from=cronjob/<name>`: one pod in a new
   * namespace, to completion. Resolves with the pod (its logs, its exit codes).
   */
  public async runCronJob(
    name: string, manifests: readonly object[], timeoutMs: number,
  ): Promise<{ pod: PodRuntime; succeeded: boolean; exits: Record<string, number> }> {
    this.assertUsable();
    const cron = (manifests as K8sObject[])
      .find((o) => o?.kind === 'CronJob' && o.metadata?.name === name) as unknown as CronJob | undefined;
    if (!cron) throw new Error(`no CronJob ${name} in the manifests`);
    return this.runPod(
      `${name}-manual-${++this.jobSeq}`, cron.metadata.namespace ?? 'default', cron.spec.jobTemplate.spec.template, timeoutMs,
    );
  }

  /** Runs a pod template to completion in a new namespace. */
  public async runPod(podName: string, namespace: string, template: PodTemplate, timeoutMs: number) {
    const slot = await this.newJobSlot(template.metadata?.labels ?? {}, namespace);
    const pod = new PodRuntime(this, { ns: slot.ns, name: podName, namespace, dir: join(this.runDir, 'pods', podName), ip: () => slot.ip });
    this.jobPods.add(pod);
    await pod.start({ ...template, spec: { ...template.spec, restartPolicy: template.spec.restartPolicy ?? 'Never' } }, []);
    const done = await pod.waitForCompletion(timeoutMs);
    await pod.stop('KILL');
    return { pod, succeeded: done.succeeded, exits: done.exits };
  }

  // ---------------------------------------------------------------- clients and load

  private assertUsable(): void {
    if (!this.setUp) throw new Error('call setup() first');
    if (this.closed) throw new Error('the harness was cleaned up');
  }

  /** Runs a command in a client namespace (argument array, no shell). */
  public async clientExec(
    command: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; client?: string; cwd?: string } = {},
  ): Promise<RunResult> {
    this.assertUsable();
    const client = this.clients.get(opts.client ?? 'c');
    if (!client) throw new Error(`no client ${opts.client}`);
    return run(IP, ['netns', 'exec', client.ns, ...command], {
      timeoutMs: opts.timeoutMs ?? 30_000, env: opts.env ?? { PATH: IMAGE_PATH }, cwd: opts.cwd, track: this.clientProcs,
    });
  }

  /**
   * Starts a write-load generator in the client namespace (harness/writer.js) that inserts
   * unique ids round-robin into <database>.<table> on the targets and records every
   * acknowledged id. Resolves once the table exists and the writer is running.
   */
  public async startWriter(
    opts: WriterOptions & { targets: readonly { pod: number; host: string; port: number }[]; password?: string },
  ): Promise<WriterHandle> {
    this.assertUsable();
    this.writerSeq += 1;
    const name = `w${this.writerSeq}`;
    const dir = join(this.runDir, 'writers');
    mkdirSync(dir, { recursive: true });
    const h = await startWriter({ ...opts, ip: IP, clientNs: this.clientNs, script: WRITER_JS, name, idBase: this.writerSeq * 1e12, dir });
    this.writers.add(h);
    return h;
  }

  /** Has cleanup() kill a load generator the test started itself (a process in a client namespace). */
  public adopt(generator: { kill(): void }): void {
    this.writers.add(generator);
  }

  /** Every acknowledged id is present on every listed pod and CHECKSUM TABLE agrees; throws with the missing ids otherwise. */
  public verifyLedger(sql: (
    pod: number, q: string,
  ) => Promise<string[][]>, acked: readonly number[], pods: readonly number[], table = 'acks', database = 'ledger'): Promise<LedgerReport> {
    return verifyLedger(sql, acked, pods, table, database);
  }

  public verifyOpsLedger(
    sql: (pod: number, q: string) => Promise<string[][]>, ledgerFile: string, pods: readonly number[], table: string, database = 'ledger',
  ): Promise<OpsLedgerReport> {
    return verifyOpsLedger(sql, ledgerFile, pods, table, database);
  }

  // ---------------------------------------------------------------- cleanup

  /** Kills every process, deletes namespaces, links, the bridge, hosts files and (unless kept) the run directory. Idempotent. */
  public async cleanup(): Promise<void> {
    for (const w of this.writers) w.kill();
    this.writers.clear();
    const pods = [...this.workloads.flatMap((w) => w.runtimes), ...this.jobPods];
    this.cleanupSync();
    await Promise.all(pods.map((p) => p.stop('KILL').catch(() => undefined)).map((p) => Promise.race([p, guard(5_000)])));
  }

  /** Synchronous teardown (also used by the process exit and signal handlers). */
  public cleanupSync(): void {
    if (this.closed || !this.setUp) { this.closed = true; return; }
    this.closed = true;
    live.delete(this);
    for (const w of this.writers) w.kill();
    const pods = [...this.workloads.flatMap((w) => w.runtimes), ...this.jobPods];
    for (const p of pods) p.abandon();
    // Processes the harness started but that may not have entered a namespace yet, then the
    // namespaces' processes (destroyPrefix), then the started ones once more.
    for (let round = 0; round < 3; round++) {
      for (const p of pods) killGroups(p.procs);
      killGroups(this.clientProcs);
      if (round < 2) runSync('/bin/sleep', ['0.05']);
    }
    const keep = this.opts.keepRunDir ?? process.env.GALERA_PODS_KEEP === '1';
    const problems = destroyPrefix(this.prefix, this.runDir, false);
    for (const p of pods) killGroups(p.procs);
    killGroups(this.clientProcs);
    const stray = [...pods.flatMap((p) => [...p.procs]), ...this.clientProcs].filter((pid) => pidAlive(pid));
    if (stray.length > 0) problems.push(`processes still alive: ${stray.join(' ')}`);
    if (!keep) {
      // Data volumes and emptyDirs go; logs and events stay (a day, for a harness-made run dir).
      rmSync(join(this.runDir, 'pvc'), { recursive: true, force: true });
      for (const p of pods) rmSync(join(p.place.dir, 'volumes'), { recursive: true, force: true });
    }
    try { writeFileSync(join(this.runDir, FINISHED_MARKER), `${new Date().toISOString()}\n`); } catch { /* gone */ }
    if (problems.length > 0) process.stderr.write(`pod harness cleanup problems: ${problems.join('; ')}\n`);
  }

  /** True while any process of this run still exists (for tests of the harness). */
  public anyProcessLeft(): boolean {
    const pods = [...this.workloads.flatMap((w) => w.runtimes), ...this.jobPods];
    return [...this.slots.map((s) => s.ns), ...[...this.clients.values()].map((c) => c.ns)].some((ns) => netnsPids(ns).length > 0)
      || pods.some((p) => [...p.procs].some((pid) => pidAlive(pid)))
      || [...this.clientProcs].some((pid) => pidAlive(pid));
  }

  /**
   * Processes of any pod whose command line holds one of the values (passwords): "pid (comm): the
   * value's first characters". Read from /proc/<pid>/cmdline, as `ps` shows it to anyone.
   */
  public commandLinesWith(values: readonly string[]): string[] {
    const secrets = values.filter((v) => v.length >= 4);
    const found: string[] = [];
    for (const ns of this.slots.map((sl) => sl.ns)) {
      for (const pid of netnsPids(ns)) {
        let cmdline = '';
        try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
        for (const v of secrets) if (cmdline.includes(v)) found.push(`${pid} in ${ns}: ${cmdline.slice(0, 80)}… holds ${v.slice(0, 3)}…`);
      }
    }
    return found;
  }

  /** Every namespace of the run. */
  public get namespaces(): string[] {
    return [...this.slots.map((s) => s.ns), ...[...this.clients.values()].map((c) => c.ns)];
  }

  public client(name = 'c'): Slot {
    const c = this.clients.get(name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  }
}

function disableIpv6(link: string): void {
  try { writeFileSync(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1'); } catch { /* no IPv6 */ }
}

export type { ExecResult };
