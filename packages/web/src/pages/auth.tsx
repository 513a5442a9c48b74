import { ApiError, browserSupportsWebAuthn, devSignIn, signIn, signUp } from '@sotto/client';
import { type FormEvent, useEffect, useState } from 'react';
import { Link, navigate, paths, useLocation } from '../router.tsx';
import { api, useSession } from '../session.tsx';
import { ErrorNote, useAction } from '../ui.tsx';

const USERNAME_PATTERN = '[a-z0-9_]{3,24}';
const USERNAME_HINT = '3–24 characters: lowercase letters, digits and _';

/** Whether the server offers dev sign-in (only with --dev, from loopback). */
function useDevMode(): boolean {
  const [dev, setDev] = useState(false);
  useEffect(() => {
    let live = true;
    api.authConfig().then(
      (c) => live && setDev(c.devSignIn),
      () => live && setDev(false),
    );
    return () => {
      live = false;
    };
  }, []);
  return dev;
}

export function AuthPage({ mode, next }: { mode: 'signin' | 'signup'; next: string }) {
  const dev = useDevMode();
  const { setMe } = useSession();
  const done = (me: Parameters<typeof setMe>[0]) => {
    setMe(me);
    navigate(next || '/', { replace: true });
  };
  return (
    <div className="auth">
      <div className="auth-hero">
        <p className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          Sotto
        </p>
        <p className="auth-tagline">
          Live conversations, in rooms you run. Audio stays end-to-end encrypted.
        </p>
      </div>
      <main className="auth-main" id="main">
        <div className="card auth-card">
          <nav className="tabs" aria-label="Account">
            <Link href={paths.signin()} className="tab" aria-current={mode === 'signin' ? 'page' : undefined}>
              Sign in
            </Link>
            <Link href={paths.signup()} className="tab" aria-current={mode === 'signup' ? 'page' : undefined}>
              Sign up
            </Link>
          </nav>
          {mode === 'signin' ? <SignIn onDone={done} /> : <SignUp onDone={done} />}
        </div>
        {mode === 'signin' && <Waitlist />}
        {dev && <DevSignIn onDone={done} />}
      </main>
    </div>
  );
}

/** A username input: lowercased as typed, checked against the server's pattern. */
function UsernameField({
  label,
  value,
  onChange,
  hintId,
  autoComplete,
}: {
  label: string;
  value: string;
  onChange: (username: string) => void;
  /** The id of a hint shown outside the label (it describes the field; it is not its name). */
  hintId?: string;
  autoComplete?: string;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input
        value={value}
        onChange={(e) => onChange(e.target.value.toLowerCase())}
        required
        pattern={USERNAME_PATTERN}
        title={USERNAME_HINT}
        autoComplete={autoComplete}
        autoCapitalize="none"
        spellCheck={false}
        aria-describedby={hintId}
      />
    </label>
  );
}

type Done = (me: Awaited<ReturnType<typeof signIn>>) => void;

function PasskeyUnsupported() {
  if (browserSupportsWebAuthn()) return null;
  return (
    <p className="note note-warn" role="note">
      This browser does not support passkeys. Try a recent version of Safari, Chrome, Firefox or Edge.
    </p>
  );
}

function SignIn({ onDone }: { onDone: Done }) {
  const { busy, error, run } = useAction();
  return (
    <section aria-labelledby="signin-h">
      <h1 id="signin-h">Welcome back</h1>
      <p className="muted">Use the passkey you created when you joined. No password, no phone number.</p>
      <PasskeyUnsupported />
      <ErrorNote error={error} />
      <button
        type="button"
        className="btn btn-primary btn-block"
        disabled={busy}
        onClick={async () => {
          const me = await run(() => signIn(api));
          if (me) onDone(me);
        }}
      >
        {busy ? 'Waiting for your passkey…' : 'Sign in with a passkey'}
      </button>
      <p className="muted small center">
        New here? <Link href={paths.signup()}>Sign up with an invite</Link>
      </p>
    </section>
  );
}

function SignUp({ onDone }: { onDone: Done }) {
  const { search } = useLocation();
  const [inviteCode, setInviteCode] = useState(search.get('invite') ?? '');
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const me = await run(() =>
      signUp({ inviteCode: inviteCode.trim(), username, displayName: displayName.trim() }, api),
    );
    if (me) onDone(me);
  };
  return (
    <section aria-labelledby="signup-h">
      <h1 id="signup-h">Join Sotto</h1>
      <p className="muted">Sotto is invite-only. Your account is secured by a passkey on this device.</p>
      <PasskeyUnsupported />
      <form onSubmit={submit} className="form">
        <label className="field">
          <span>Invite code</span>
          <input
            value={inviteCode}
            onChange={(e) => setInviteCode(e.target.value)}
            required
            minLength={4}
            maxLength={64}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <UsernameField
          label="Username"
          value={username}
          onChange={setUsername}
          hintId="username-hint"
          autoComplete="username"
        />
        {/* outside the label: the hint describes the field (aria-describedby), it is not its name */}
        <small id="username-hint" className="hint hint-field">
          {USERNAME_HINT}
        </small>
        <label className="field">
          <span>Display name</span>
          <input
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
            required
            maxLength={64}
            autoComplete="name"
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Waiting for your passkey…' : 'Sign up with a passkey'}
        </button>
      </form>
    </section>
  );
}

function Waitlist() {
  const [username, setUsername] = useState('');
  const [note, setNote] = useState('');
  const [joined, setJoined] = useState(false);
  const { busy, error, run } = useAction();
  return (
    <section className="card auth-card" aria-labelledby="waitlist-h">
      <h2 id="waitlist-h">No invite yet?</h2>
      {joined ? (
        <p className="note note-ok" role="status">
          You’re on the waitlist as @{username}. Anyone on Sotto can send you an invite.
        </p>
      ) : (
        <form
          className="form"
          onSubmit={async (e) => {
            e.preventDefault();
            const entry = await run(() => api.joinWaitlist({ username, note: note.trim() }));
            if (entry) setJoined(true);
          }}
        >
          <p className="muted">Save a username and tell people why you’d like to join.</p>
          <UsernameField label="Username you’d like" value={username} onChange={setUsername} />
          <label className="field">
            <span>Note (optional)</span>
            <textarea value={note} onChange={(e) => setNote(e.target.value)} maxLength={280} rows={2} />
          </label>
          <ErrorNote error={error} />
          <button type="submit" className="btn btn-secondary btn-block" disabled={busy}>
            Join the waitlist
          </button>
        </form>
      )}
    </section>
  );
}

/** A fresh name for the one-click dev sign-in, e.g. "dev_k3m9". */
function suggestedDevUsername(): string {
  const n = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
  return `dev_${n.toString(36).slice(0, 5)}`;
}

function DevSignIn({ onDone }: { onDone: Done }) {
  // prefilled, so signing in is one click; type a name to come back as the same person
  const [username, setUsername] = useState(suggestedDevUsername);
  const [displayName, setDisplayName] = useState('');
  const { busy, error, run } = useAction();
  const message =
    error instanceof ApiError && error.status === 404
      ? new Error('Dev sign-in is only available when the server runs with --dev on this machine.')
      : error;
  return (
    <section className="card auth-card card-dev" aria-labelledby="dev-h">
      <h2 id="dev-h">Developer sign-in</h2>
      <p className="muted small">This server runs in dev mode: sign in as anyone, no passkey needed.</p>
      <form
        className="form form-inline"
        onSubmit={async (e) => {
          e.preventDefault();
          const me = await run(() => devSignIn(username, displayName.trim() || undefined, api));
          if (me) onDone(me);
        }}
      >
        <UsernameField label="Dev username" value={username} onChange={setUsername} />
        <label className="field">
          <span>Dev display name (optional)</span>
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={64} />
        </label>
        <ErrorNote error={message} />
        <button type="submit" className="btn btn-secondary" disabled={busy}>
          Dev sign-in
        </button>
      </form>
    </section>
  );
}
