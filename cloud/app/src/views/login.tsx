import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { type Me, signIn } from '../session.ts';

/** Sign-in with user + password, or an API token exchanged once for a session (never kept in a URL). */
export function LoginView(props: { onSignedIn: (me: Me) => void; notice?: string }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      const r = await signIn(
        mode === 'password'
          ? { user: String(f.get('user') ?? ''), password: String(f.get('password') ?? '') }
          : { token: String(f.get('token') ?? '') },
      );
      props.onSignedIn(r.user);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>gridlayer</h1>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={submit} aria-label="Sign in">
        {mode === 'password' ? (
          <>
            <label>
              User
              <input name="user" autocomplete="username" required />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
          </>
        ) : (
          <label>
            API token
            <input name="token" type="password" autocomplete="off" required />
          </label>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <button
          type="button"
          class="link"
          onClick={() => setMode(mode === 'password' ? 'token' : 'password')}
        >
          {mode === 'password' ? 'Sign in with an API token' : 'Sign in with a password'}
        </button>
      </form>
    </main>
  );
}
