// The operations console (issue 7): a single-page app over /api/v1, /auth and /fhir/R4 only.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, onUnauthorized, post } from './api.ts';
import { can, type Action, type Me } from './permissions.ts';
import { navigate, useLocation } from './router.ts';
import './styles.css';
import { Link } from './ui.tsx';
import { AuditView } from './views/audit-view.tsx';
import { ChannelsView } from './views/channels-view.tsx';
import { ExceptionsView } from './views/exceptions-view.tsx';
import { LoginView } from './views/login-view.tsx';
import { MessageView } from './views/message-view.tsx';
import { MessagesView } from './views/messages-view.tsx';
import { OverviewView } from './views/overview-view.tsx';
import { ReconciliationView } from './views/reconciliation-view.tsx';
import { ReviewView } from './views/review-view.tsx';

type Theme = 'light' | 'dark' | 'system';

function applyTheme(theme: Theme): void {
  if (theme === 'system') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = theme;
}

const NAV: readonly { to: string; label: string; needs: Action }[] = [
  { to: '/', label: 'Overview', needs: 'metrics:read' },
  { to: '/messages', label: 'Messages', needs: 'messages:search' },
  { to: '/exceptions', label: 'Exceptions', needs: 'exceptions:read' },
  { to: '/review', label: 'Write-back review', needs: 'writeback:read' },
  { to: '/reconciliation', label: 'Reconciliation', needs: 'writeback:read' },
  { to: '/channels', label: 'Channels', needs: 'channels:read' },
  { to: '/audit', label: 'Audit log', needs: 'audit:read' },
];

function App() {
  // undefined: asking the server; null: not logged in.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('swb-theme') as Theme | null) ?? 'system');
  const { path } = useLocation();

  useEffect(() => applyTheme(theme), [theme]);
  useEffect(() => onUnauthorized(() => setMe(null)), []);
  useEffect(() => {
    get<Me>('/auth/me').then(setMe, () => setMe(null));
  }, []);

  if (me === undefined) return <p class="center muted">Loading…</p>;
  if (me === null || me.mustChangePassword) return <LoginView me={me} onLoggedIn={setMe} />;

  const cycleTheme = (): void => {
    const next: Theme = theme === 'system' ? (matchMedia('(prefers-color-scheme: dark)').matches ? 'light' : 'dark') : theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('swb-theme', next);
    setTheme(next);
  };
  const logout = (): void => {
    void post('/auth/logout').finally(() => {
      setMe(null);
      navigate('/', true);
    });
  };

  const nav = NAV.filter((n) => can(me, n.needs));
  const active = (to: string): boolean => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Switchboard</span>
        <nav aria-label="Main">
          <ul>
            {nav.map((n) => (
              <li key={n.to}>
                <Link to={n.to} class={active(n.to) ? 'active' : ''}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span title={me.roles.join(', ')}>
            {me.username ?? me.subject} <span class="muted">({me.roles.join(', ')})</span>
          </span>
          <button type="button" onClick={cycleTheme} aria-label={`Theme: ${theme}. Switch theme`}>
            {theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐'}
          </button>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Route path={path} me={me} />
      </main>
    </div>
  );
}

function Route({ path, me }: { readonly path: string; readonly me: Me }) {
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
      return <OverviewView me={me} />;
    case 'messages':
      return parts[1] === undefined ? <MessagesView me={me} /> : <MessageView id={parts[1]} me={me} />;
    case 'exceptions':
      return <ExceptionsView me={me} />;
    case 'review':
      return <ReviewView me={me} id={parts[1]} />;
    case 'reconciliation':
      return <ReconciliationView me={me} />;
    case 'channels':
      return <ChannelsView me={me} id={parts[1]} />;
    case 'audit':
      return <AuditView />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing here. <Link to="/">Go to the overview</Link>.
          </p>
        </section>
      );
  }
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
