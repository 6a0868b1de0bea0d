import { collectStatus, formatStatus, kubectlClient, statusProblems } from '../status';

// Prints each database node's state (Galera, or primary/replica: role, lag and GTID positions)
// and each ProxySQL pod's view of the backends, through the user's own kubectl (read-only: get
// pods, logs, exec of the pods' own status scripts).
// Usage: status [-n namespace] [--context name] [--kubectl path]
// Exit status 1 when something is wrong (statusProblems: a pod not ready, a ProxySQL pod without
// a writer, not exactly one primary, no ready binlog archiver), each problem on stderr; 2 on bad usage.
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
  const problems = statusProblems(status);
  for (const p of problems) process.stderr.write(`status: ${p}\n`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

main().catch((e) => { process.stderr.write(`status: ${(e as Error).message}\n`); process.exit(1); });
