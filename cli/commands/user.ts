import type { Command } from 'commander';

/**
 * `gridlayer user add|password`: users of a running cloud, through its REST API (permission
 * user:admin). The operator's token comes from --token or env GRIDLAYER_TOKEN; a password never from
 * the command line (it would show in `ps` and the shell history): env GRIDLAYER_PASSWORD or
 * --password-stdin.
 */
interface ApiOpts {
  api: string;
  token?: string;
  passwordStdin?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function password(o: ApiOpts, required: boolean): Promise<string | undefined> {
  const p = o.passwordStdin ? await readStdin() : process.env.GRIDLAYER_PASSWORD;
  if (required && !p) throw new Error('no password: set GRIDLAYER_PASSWORD or pipe it with --password-stdin');
  return p || undefined;
}

async function call(o: ApiOpts, method: string, path: string, body: unknown) {
  const token = o.token ?? process.env.GRIDLAYER_TOKEN;
  if (!token) throw new Error('no API token: pass --token or set GRIDLAYER_TOKEN (an operator token)');
  const res = await fetch(`${o.api.replace(/\/$/, '')}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {}
    throw new Error(`${method} ${path}: ${res.status} ${msg}`);
  }
  return text ? JSON.parse(text) : undefined;
}

/** `site:<id>`, `group:<id>` or `all`. */
function scope(s: string) {
  if (s === 'all') return { kind: 'all', target: '*' };
  const m = /^(site|group):(.+)$/.exec(s);
  if (!m) throw new Error(`--scope ${s}: expected all, site:<id> or group:<id>`);
  return { kind: m[1], target: m[2] };
}

export function register(program: Command): void {
  const user = program
    .command('user')
    .description('Users of a running cloud (through its API): add, set password');
  const common = (c: Command) =>
    c
      .option('--api <url>', 'the cloud API', 'http://127.0.0.1:8080')
      .option('--token <token>', 'operator API token (default: env GRIDLAYER_TOKEN)')
      .option('--password-stdin', 'read the password from stdin (default: env GRIDLAYER_PASSWORD)');
  common(
    user
      .command('add')
      .description('Create a user with a role, scopes and (optionally) a password for the operator app')
      .requiredOption('--id <id>', 'user id (signs in with it)')
      .requiredOption('--name <name>', 'display name')
      .requiredOption('--role <role>', 'operator | installer | aggregator | participant | viewer | monitor')
      .option('--scope <scope...>', 'all, site:<id> or group:<id> (repeatable)', []),
  ).action(async (o: ApiOpts & { id: string; name: string; role: string; scope: string[] }) => {
    const pw = await password(o, false);
    const u = await call(o, 'POST', '/users', {
      id: o.id,
      name: o.name,
      role: o.role,
      scopes: o.scope.map(scope),
      ...(pw ? { password: pw } : {}),
    });
    console.log(`user ${u.id} (${u.role}) created${pw ? ' with a password' : ''}`);
  });
  common(
    user
      .command('password')
      .description("Set a user's password (ends the user's sessions)")
      .argument('<id>', 'user id'),
  ).action(async (id: string, o: ApiOpts) => {
    const r = await call(o, 'PUT', `/users/${encodeURIComponent(id)}/password`, {
      password: await password(o, true),
    });
    console.log(`password of ${r.user} set; ${r.sessionsEnded} session(s) ended`);
  });
}
