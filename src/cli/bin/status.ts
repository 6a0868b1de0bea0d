import { collectStatus, formatStatus, kubectlClient } from '../status';

// Prints each database node's state (Galera, or primary/replica: role, lag and GTID positions)
// and each ProxySQL pod's view of the backends, through the user's own kubectl (read-only: get
// pods, logs, exec of the pods' own status scripts).
// Usage: status [-n namespace] [--context name] [--kubectl path]
// Exit status 1 when a pod is not ready, a ProxySQL pod sees no writer, or the primary/replica
// nodes do not have exactly one primary; 2 on bad usage.
const USAGE = 'usage: status [-n|--namespace NAMESPACE] [--context CONTEXT] [--kubectl PATH]';

function parseArgs(argv: string[]): { namespace: string; context?: string; kubectl?: string } {
  const opts: { namespace: string; context?: string; kubectl?: string } = { namespace: 'galera' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    const need = () => { if (value === undefined || value.startsWith('-')) fail(`${argv[i]} needs a value`); i++; return value; };
    switch (argv[i]) {
      case '-n': case '--namespace': opts.namespace = need(); break;
      case '--context': opts.context = need(); break;
      case '--kubectl': opts.kubectl = need(); break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0);
      default: fail(`unknown argument '${argv[i]}'`);
    }
  }
  return opts;
}

function fail(message: string): never {
  process.stderr.write(`status: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const status = await collectStatus(kubectlClient(opts.namespace, opts));
  process.stdout.write(formatStatus(status, opts.namespace));
  const replication = status.replication ?? [];
  const healthy = [...status.nodes, ...replication, ...status.proxies].every((p) => p.ready)
    && status.proxies.every((p) => p.writers.length > 0)
    && (replication.length === 0 || replication.filter((n) => n.role === 'primary').length === 1);
  process.exitCode = status.nodes.length + replication.length > 0 && healthy ? 0 : 1;
}

main().catch((e) => { process.stderr.write(`status: ${(e as Error).message}\n`); process.exit(1); });
