import { stringify } from 'yaml';
import { newCredentialsSecret } from '../../core/credentials';

// Prints a Secret manifest with fresh random passwords; pipe it into `kubectl create -f -`.
// Usage: new-secret [secret-name] [namespace]
const [name = 'galera-credentials', namespace = 'galera'] = process.argv.slice(2);
process.stdout.write(stringify(newCredentialsSecret(name, namespace)));
