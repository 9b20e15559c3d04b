/** Audit log (operators): who changed what and who was refused what, filtered by time, action, target. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { navigate } from '../router.ts';
import { TableWrap } from '../table-wrap.tsx';
import { isoTime } from '../units.ts';

interface Entry {
  id: string;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  detail: unknown;
}

const SINCE: [string, number][] = [
  ['last hour', 3600],
  ['last 24 hours', 86400],
  ['last 7 days', 7 * 86400],
  ['last 30 days', 30 * 86400],
];

export function AuditView(props: ViewProps) {
  const q = props.route.query;
  const since = Number(q.get('since') ?? 86400);
  const action = q.get('action') ?? '';
  const target = q.get('target') ?? '';
  const [rows, setRows] = useState<Entry[]>();
  const [error, setError] = useState('');
  useEffect(() => {
    const p = new URLSearchParams({ since: String(Date.now() - since * 1000), limit: '1000' });
    if (action) p.set('action', action);
    if (target) p.set('target', target);
    setRows(undefined);
    get<Entry[]>(`/audit?${p}`).then(
      (r) => {
        setRows(r.reverse());
        setError('');
      },
      (e) => setError(e instanceof ApiError ? e.message : String(e)),
    );
  }, [since, action, target]);
  const apply = (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const p = new URLSearchParams();
    for (const k of ['since', 'action', 'target']) {
      const v = String(f.get(k) ?? '').trim();
      if (v) p.set(k, v);
    }
    navigate(`#/audit?${p}`);
  };
  return (
    <section>
      <h1>Audit log</h1>
      <form class="filters" aria-label="Filter the audit log" onSubmit={apply}>
        <label>
          Time
          <select name="since" value={String(since)}>
            {SINCE.map(([l, s]) => (
              <option key={s} value={String(s)}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Action
          <input name="action" value={action} placeholder="e.g. command.rejected" />
        </label>
        <label>
          Target
          <input name="target" value={target} placeholder="site, user or token id" />
        </label>
        <button type="submit">Apply</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!rows && !error && <p>Loading…</p>}
      {rows && (
        <>
          <p class="muted">
            {rows.length} entries{rows.length === 1000 ? ' (the first 1,000 of the range: narrow it)' : ''},
            newest first
          </p>
          <TableWrap label="Audit entries">
            <table class="audit">
              <caption class="sr-only">Audit entries</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id}>
                    <td>{isoTime(r.ts)}</td>
                    <td>{r.actor}</td>
                    <td>{r.action}</td>
                    <td>{r.target ?? ''}</td>
                    <td>
                      <code class="detail">
                        {r.detail === null || r.detail === undefined ? '' : JSON.stringify(r.detail)}
                      </code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </section>
  );
}
