// Login, and the forced password change: the first admin's one-time password (printed by
// `switchboard start`) must be replaced before anything else works (src/api/auth/login-routes.ts).
import { useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.ts';
import type { Me } from '../permissions.ts';
import { ErrorBox } from '../ui.tsx';

export function LoginView({ me, onLoggedIn }: { readonly me: Me | null; readonly onLoggedIn: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mustChange, setMustChange] = useState(me?.mustChangePassword === true);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const login = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await post<{ user: { mustChangePassword: boolean } }>('/auth/login', { username, password });
      if (r.user.mustChangePassword) setMustChange(true);
      else onLoggedIn(await get<Me>('/auth/me'));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : err instanceof ApiError && err.status === 429 ? 'Too many attempts; wait a moment.' : String(err instanceof Error ? err.message : err));
    } finally {
      setBusy(false);
    }
  };

  const change = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (newPassword !== confirm) {
      setError('The new passwords differ.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await post('/auth/password', { currentPassword: password, newPassword });
      onLoggedIn(await get<Me>('/auth/me'));
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" id="main">
      <h1>Switchboard</h1>
      {!mustChange ? (
        <form onSubmit={(e) => void login(e)} aria-labelledby="login-title">
          <h2 id="login-title">Sign in</h2>
          <label for="username">Username</label>
          <input id="username" name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <ErrorBox error={error} />
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </form>
      ) : (
        <form onSubmit={(e) => void change(e)} aria-labelledby="change-title">
          <h2 id="change-title">Choose a new password</h2>
          <p>This is a one-time password: choose your own before you continue (at least 12 characters).</p>
          {me?.mustChangePassword === true && (
            <>
              <label for="current">Current password</label>
              <input id="current" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </>
          )}
          <label for="new-password">New password</label>
          <input id="new-password" type="password" autoComplete="new-password" required minLength={12} value={newPassword} onInput={(e) => setNewPassword(e.currentTarget.value)} />
          <label for="confirm-password">Repeat the new password</label>
          <input id="confirm-password" type="password" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
          <ErrorBox error={error} />
          <button type="submit" class="primary" disabled={busy}>
            Change password
          </button>
        </form>
      )}
    </main>
  );
}
