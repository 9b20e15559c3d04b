/**
 * Users and API tokens (operators): create a user with a role and scopes, issue a token (shown once),
 * revoke a token. Refusals come back as the API's own text, shown next to the form that caused them.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, get, post } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { TableWrap } from '../table-wrap.tsx';
import { ago, isoTime } from '../units.ts';

interface User {
  id: string;
  name: string;
  role: string;
  createdAt: number;
  scopes: { kind: string; target: string }[];
}
interface Token {
  id: string;
  userId: string;
  label: string | null;
  createdAt: number;
  createdBy: string | null;
  expiresAt: number | null;
  lastUsed: number | null;
  revokedAt: number | null;
}

const ROLES = ['operator', 'installer', 'aggregator', 'participant', 'viewer', 'monitor'];
const msg = (e: unknown) => (e instanceof ApiError ? e.message : String(e));

export function UsersView(_props: ViewProps) {
  const [users, setUsers] = useState<User[]>([]);
  const [tokens, setTokens] = useState<Token[]>([]);
  const [error, setError] = useState('');
  const [userError, setUserError] = useState('');
  const [tokenError, setTokenError] = useState('');
  const [issued, setIssued] = useState<{ user: string; token: string }>();
  const [showRevoked, setShowRevoked] = useState(false);
  const load = () => {
    get<User[]>('/users').then(setUsers, (e) => setError(msg(e)));
    get<Token[]>(`/tokens?revoked=${showRevoked}`).then(setTokens, (e) => setError(msg(e)));
  };
  useEffect(load, [showRevoked]);
  const createUser = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const scope = String(f.get('scope') ?? '').trim();
    const scopes = scope
      ? scope.split(/[\s,]+/).map((s) => {
          const [kind, target] = s.split(':');
          return { kind: kind ?? '', target: target ?? '*' };
        })
      : [];
    try {
      const id = String(f.get('id') ?? '').trim();
      const password = String(f.get('password') ?? '');
      await post('/users', {
        name: String(f.get('name') ?? ''),
        role: String(f.get('role')),
        scopes,
        ...(id && { id }),
        ...(password && { password }),
      });
      setUserError('');
      form.reset();
      load();
    } catch (err) {
      setUserError(msg(err));
    }
  };
  const issue = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const user = String(f.get('user') ?? '');
    const days = Number(f.get('days') ?? 30);
    try {
      const t = await post<{ token: string }>(`/users/${encodeURIComponent(user)}/tokens`, {
        label: String(f.get('label') ?? '') || undefined,
        ttlSeconds: Math.round(days * 86400),
      });
      setTokenError('');
      setIssued({ user, token: t.token });
      load();
    } catch (err) {
      setTokenError(msg(err));
    }
  };
  const revoke = async (t: Token) => {
    if (!confirm(`Revoke token ${t.label ?? t.id} of ${t.userId}? Requests with it are refused from now on.`))
      return;
    try {
      await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
      setTokenError('');
      load();
    } catch (err) {
      setTokenError(msg(err));
    }
  };
  const name = (id: string) => users.find((u) => u.id === id)?.name ?? id;
  return (
    <section>
      <h1>Users and tokens</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h2>Users</h2>
      <TableWrap label="Users">
        <table class="users">
          <caption class="sr-only">Users</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Role</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}>
                <td>{u.name}</td>
                <td>
                  <code>{u.id}</code>
                </td>
                <td>{u.role}</td>
                <td>
                  {u.scopes.map((s) => (s.kind === 'all' ? 'all' : `${s.kind}:${s.target}`)).join(', ') ||
                    '—'}
                </td>
                <td>{isoTime(u.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <form class="card inline-form" aria-label="Create a user" onSubmit={createUser}>
        <h3>Create a user</h3>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Sign-in id (optional)
          <input name="id" pattern="[A-Za-z0-9_.\-]{1,64}" autocomplete="off" />
        </label>
        <label>
          Password (optional)
          <input name="password" type="password" minLength={10} autocomplete="new-password" />
        </label>
        <label>
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Scopes
          <input name="scope" placeholder="all, site:site-1, group:g1" />
        </label>
        <button type="submit">Create user</button>
        {userError && (
          <p class="error" role="alert">
            {userError}
          </p>
        )}
      </form>
      <h2>API tokens</h2>
      <label class="check">
        <input type="checkbox" checked={showRevoked} onChange={() => setShowRevoked(!showRevoked)} /> show
        revoked
      </label>
      <TableWrap label="API tokens">
        <table class="tokens">
          <caption class="sr-only">API tokens</caption>
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">User</th>
              <th scope="col">Issued</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id} data-token={t.id}>
                <td>{t.label ?? <code>{t.id}</code>}</td>
                <td>{name(t.userId)}</td>
                <td>
                  {isoTime(t.createdAt)}
                  {t.createdBy && <span class="muted small"> by {t.createdBy}</span>}
                </td>
                <td>{t.expiresAt ? isoTime(t.expiresAt) : 'never'}</td>
                <td>{t.lastUsed ? ago(t.lastUsed) : 'never'}</td>
                <td>
                  {t.revokedAt ? (
                    `revoked ${ago(t.revokedAt)}`
                  ) : (
                    <button
                      type="button"
                      onClick={() => revoke(t)}
                      aria-label={`Revoke token ${t.label ?? t.id}`}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <form class="card inline-form" aria-label="Issue a token" onSubmit={issue}>
        <h3>Issue a token</h3>
        <label>
          User
          <select name="user" required>
            {users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name} ({u.role})
              </option>
            ))}
          </select>
        </label>
        <label>
          Label
          <input name="label" maxLength={200} />
        </label>
        <label>
          Valid for (days)
          <input name="days" type="number" min="1" step="1" value="30" />
        </label>
        <button type="submit">Issue token</button>
        {tokenError && (
          <p class="error" role="alert">
            {tokenError}
          </p>
        )}
        {issued && (
          <div class="issued" role="status">
            <p>Token for {name(issued.user)} — shown once, copy it now:</p>
            <code class="token">{issued.token}</code>
          </div>
        )}
      </form>
    </section>
  );
}
