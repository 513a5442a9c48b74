import type { ChatMessage, HandRaisePolicy, Member, RoomState } from '@sotto/app/api';
import {
  ApiError,
  type ConnectionStatus,
  type E2eeView,
  errorMessage,
  isModerator,
  isOnStage,
  type MicState,
  RoomSession,
} from '@sotto/client';
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { e2eeTestHook } from '../e2ee-test-hook.ts';
import { ReportDialog, type ReportTarget } from '../report.tsx';
import { Link, navigate, paths } from '../router.tsx';
import { api } from '../session.tsx';
import { Avatar, Dialog, ErrorNote, plural, Spinner, StrokeIcon, useAction } from '../ui.tsx';

type Phase = 'joining' | 'live' | 'ended' | 'removed' | 'failed';

interface RoomView {
  phase: Phase;
  joinError: unknown;
  removedBlocked: boolean;
  state: RoomState | null;
  chat: readonly ChatMessage[];
  speaking: ReadonlySet<string>;
  audible: ReadonlySet<string>;
  mic: MicState;
  connection: ConnectionStatus;
  audioBlocked: boolean;
  mediaError: Error | null;
  e2ee: E2eeView;
}

/** Joins on mount, leaves on unmount; mirrors the RoomSession into React state. */
function useRoomSession(roomId: string, audioContainer: React.RefObject<HTMLDivElement | null>) {
  const [view, setView] = useState<RoomView>({
    phase: 'joining',
    joinError: null,
    removedBlocked: false,
    state: null,
    chat: [],
    speaking: new Set(),
    audible: new Set(),
    mic: { canPublish: false, published: false, muted: false },
    connection: 'connecting',
    audioBlocked: false,
    mediaError: null,
    e2ee: { securityCode: null, stageDevices: [], keyChanged: new Set() },
  });
  const sessionRef = useRef<RoomSession | null>(null);

  useEffect(() => {
    const hook = e2eeTestHook();
    const s = new RoomSession(roomId, {
      api,
      audioContainer: audioContainer.current ?? undefined,
      ...(hook ? { e2ee: hook.options } : {}),
    });
    sessionRef.current = s;
    hook?.onSession?.(s);
    const patch = (p: Partial<RoomView>) => setView((v) => ({ ...v, ...p }));
    s.on('state', (state) => patch({ state }));
    s.on('chat', () => patch({ chat: [...s.chat] }));
    s.on('speaking', (speaking) => patch({ speaking }));
    s.on('audible', (audible) => patch({ audible }));
    s.on('micChanged', (mic) => patch({ mic }));
    s.on('connection', (connection) => patch({ connection }));
    s.on('audioBlocked', (audioBlocked) => patch({ audioBlocked }));
    s.on('error', (mediaError) => patch({ mediaError }));
    s.on('e2ee', (e2ee) => patch({ e2ee }));
    s.on('ended', () => patch({ phase: 'ended' }));
    s.on('removed', ({ blocked }) => patch({ phase: 'removed', removedBlocked: blocked }));
    s.join().then(
      () => setView((v) => (v.phase === 'joining' ? { ...v, phase: 'live' } : v)),
      (err) => {
        const ended = err instanceof ApiError && err.code === 'room_ended';
        patch({ phase: ended ? 'ended' : 'failed', joinError: err });
        void s.close();
      },
    );
    const onPageHide = () => void s.close();
    window.addEventListener('pagehide', onPageHide);
    return () => {
      window.removeEventListener('pagehide', onPageHide);
      if (!s.closed) s.leave().catch(() => {});
      sessionRef.current = null;
    };
  }, [roomId, audioContainer]);

  const dismissMediaError = useCallback(() => setView((v) => ({ ...v, mediaError: null })), []);
  return { view, session: sessionRef, dismissMediaError };
}

export function RoomPage({ roomId }: { roomId: string }) {
  const audioRef = useRef<HTMLDivElement>(null);
  const { view, session, dismissMediaError } = useRoomSession(roomId, audioRef);
  const { state, phase } = view;

  let body: React.ReactNode;
  if (phase === 'ended') {
    body = (
      <RoomGone title="Room ended">
        <p>This conversation is over. Thanks for being part of it.</p>
      </RoomGone>
    );
  } else if (phase === 'removed') {
    body = (
      <RoomGone title="You were removed">
        <p>
          A moderator removed you from this room
          {view.removedBlocked ? ' and you can’t rejoin it.' : '.'}
        </p>
      </RoomGone>
    );
  } else if (phase === 'failed') {
    body = (
      <RoomGone title="You can’t join this room">
        <p>{errorMessage(view.joinError)}</p>
      </RoomGone>
    );
  } else if (!state) {
    body = (
      <div className="page narrow">
        <Spinner label="Joining the room…" />
      </div>
    );
  } else {
    body = (
      <LiveRoom view={view} state={state} session={session.current} onDismissMediaError={dismissMediaError} />
    );
  }
  return (
    <>
      {body}
      <div ref={audioRef} className="audio-sink" aria-hidden="true" />
    </>
  );
}

function RoomGone({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="page narrow">
      <section className="card gone" aria-labelledby="gone-h">
        <h1 id="gone-h">{title}</h1>
        {children}
        <Link href={paths.hallway()} className="btn btn-primary">
          Back to the hallway
        </Link>
      </section>
    </div>
  );
}

function LiveRoom({
  view,
  state,
  session,
  onDismissMediaError,
}: {
  view: RoomView;
  state: RoomState;
  session: RoomSession | null;
  onDismissMediaError: () => void;
}) {
  const me = state.me;
  const moderator = isModerator(state);
  const onStage = isOnStage(state);
  const [selected, setSelected] = useState<string | null>(null);
  const [report, setReport] = useState<{ target: ReportTarget; subject: string } | null>(null);
  const action = useAction();
  const { run } = action;

  const act = useCallback(
    (fn: () => Promise<RoomState | undefined>) =>
      run(async () => {
        const next = await fn();
        if (next) session?.applyState(next);
      }),
    [run, session],
  );

  const leave = async (quiet: boolean) => {
    await run(async () => {
      await session?.leave({ quiet });
    });
    navigate(paths.hallway());
  };

  const selectedMember = selected
    ? [...state.stage, ...state.audience, ...state.handQueue].find((m) => m.user.id === selected)
    : undefined;
  const handRaised = me?.handRaisedAt !== null && me?.handRaisedAt !== undefined;
  const firstName = (m: Member) => m.user.displayName;

  return (
    <div className="room">
      <div className="room-main">
        <header className="room-head">
          <div className="room-head-meta">
            {state.club && <span className="club-name">{state.club.name}</span>}
            {state.type !== 'open' && (
              <span className="pill">{state.type === 'social' ? 'Social' : 'Closed'}</span>
            )}
            <ConnectionBadge status={view.connection} />
          </div>
          <h1 className="room-topic">{state.topic}</h1>
          <button
            type="button"
            className="btn btn-small btn-ghost room-report"
            onClick={() => setReport({ target: { type: 'room', roomId: state.id }, subject: 'this room' })}
          >
            Report room
          </button>
        </header>

        {view.audioBlocked && (
          <div className="note note-warn banner" role="alert">
            <span>Your browser paused the audio.</span>
            <button
              type="button"
              className="btn btn-small btn-primary"
              onClick={() => void session?.startAudio()}
            >
              Play audio
            </button>
          </div>
        )}
        {view.mediaError && <ErrorNote error={view.mediaError} onDismiss={onDismissMediaError} />}
        {me?.invitedToSpeak && (
          <div className="invite-banner" role="alert">
            <p>
              <MicIcon />
              You’re invited to speak
            </p>
            <div className="btn-row">
              <button
                type="button"
                className="btn btn-primary"
                disabled={action.busy}
                onClick={() => void run(() => session?.answerInvitation(true) ?? Promise.resolve())}
              >
                Accept
              </button>
              <button
                type="button"
                className="btn btn-secondary"
                disabled={action.busy}
                onClick={() => void run(() => session?.answerInvitation(false) ?? Promise.resolve())}
              >
                Decline
              </button>
            </div>
          </div>
        )}
        <ErrorNote error={action.error} onDismiss={() => action.setError(null)} />

        <KeyChangeWarning view={view.e2ee} state={state} />
        <section aria-labelledby="stage-h" className="room-section">
          <h2 id="stage-h" className="section-label">
            On stage <span className="muted">· {state.stage.length}</span>
          </h2>
          <StageSecurity view={view.e2ee} state={state} />
          <ul className="member-grid member-grid-stage">
            {state.stage.map((m) => (
              <MemberTile
                key={m.user.id}
                member={m}
                where="stage"
                isMe={m.user.id === me?.user.id}
                speaking={view.speaking.has(m.user.id)}
                muted={!view.audible.has(m.user.id)}
                onOpen={() => setSelected(m.user.id)}
              />
            ))}
          </ul>
        </section>

        <section aria-labelledby="audience-h" className="room-section">
          <h2 id="audience-h" className="section-label">
            In the audience <span className="muted">· {plural(state.listenerCount, 'listener')}</span>
          </h2>
          {state.audience.length === 0 ? (
            <p className="muted small">No one is listening yet — ping a friend in.</p>
          ) : (
            <ul className="member-grid">
              {state.audience.map((m) => (
                <MemberTile
                  key={m.user.id}
                  member={m}
                  where="audience"
                  isMe={m.user.id === me?.user.id}
                  speaking={false}
                  muted={false}
                  onOpen={() => setSelected(m.user.id)}
                />
              ))}
            </ul>
          )}
          {state.listenerCount > state.audience.length && (
            <p className="muted small">
              and {plural(state.listenerCount - state.audience.length, 'more listener')}
            </p>
          )}
        </section>
      </div>

      <aside className="room-side">
        {moderator && (
          <section className="card" aria-labelledby="hands-h">
            <h2 id="hands-h">
              Raised hands{' '}
              {state.handQueue.length > 0 && <span className="count-badge">{state.handQueue.length}</span>}
            </h2>
            {state.handQueue.length === 0 ? (
              <p className="muted small">
                {state.handRaise === 'off' ? 'Hand raising is off.' : 'No hands up right now.'}
              </p>
            ) : (
              <ul className="plain-list hand-queue">
                {state.handQueue.map((m) => (
                  <li
                    key={m.user.id}
                    className="hand-row"
                    data-testid="hand-queue-member"
                    data-username={m.user.username}
                  >
                    <Avatar user={m.user} size="sm" />
                    <span className="hand-name">{firstName(m)}</span>
                    {m.invitedToSpeak ? (
                      <span className="muted small">Invited</span>
                    ) : (
                      <button
                        type="button"
                        className="btn btn-small btn-primary"
                        disabled={action.busy}
                        onClick={() => void act(() => api.inviteToSpeak(state.id, m.user.id))}
                      >
                        Invite to speak
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            )}
            <label className="field field-compact">
              <span>Who can raise a hand</span>
              <select
                value={state.handRaise}
                onChange={(e) =>
                  void act(() => api.roomSettings(state.id, { handRaise: e.target.value as HandRaisePolicy }))
                }
              >
                <option value="everyone">Everyone</option>
                <option value="followed">People followed by speakers</option>
                <option value="off">Nobody</option>
              </select>
            </label>
          </section>
        )}
        <ChatPanel chat={view.chat} session={session} />
        <PingForm roomId={state.id} />
      </aside>

      <section className="room-bar" aria-label="Room controls">
        <div className="room-bar-inner">
          <div className="btn-row">
            <button
              type="button"
              className="btn btn-ghost"
              disabled={action.busy}
              onClick={() => void leave(true)}
            >
              Leave quietly
            </button>
            <button
              type="button"
              className="btn btn-secondary"
              disabled={action.busy}
              onClick={() => void leave(false)}
            >
              Leave
            </button>
          </div>
          <div className="btn-row">
            {moderator && (
              <button
                type="button"
                className="btn btn-danger"
                disabled={action.busy}
                onClick={() =>
                  void run(async () => {
                    await api.endRoom(state.id);
                  })
                }
              >
                End room
              </button>
            )}
            {!onStage && state.handRaise !== 'off' && !me?.invitedToSpeak && (
              <button
                type="button"
                className={handRaised ? 'btn btn-round btn-round-on' : 'btn btn-round'}
                disabled={action.busy}
                onClick={() => void run(() => session?.setHand(!handRaised) ?? Promise.resolve())}
              >
                <HandIcon />
                {handRaised ? 'Lower hand' : 'Raise hand'}
              </button>
            )}
            {onStage && <MicButton mic={view.mic} connection={view.connection} session={session} />}
          </div>
        </div>
      </section>

      <MemberSheet
        member={selectedMember ?? null}
        state={state}
        isMe={selectedMember?.user.id === me?.user.id}
        muted={selectedMember ? !view.audible.has(selectedMember.user.id) : false}
        onClose={() => setSelected(null)}
        onAct={(fn) => {
          setSelected(null);
          void act(fn);
        }}
        onRemove={(userId, block) => {
          setSelected(null);
          void act(async () => {
            await session?.removeMember(userId, block);
            return undefined;
          });
        }}
        onReport={(m) => {
          setSelected(null);
          setReport({ target: { type: 'user', username: m.user.username }, subject: m.user.displayName });
        }}
      />
      <ReportDialog
        target={report?.target ?? null}
        subject={report?.subject ?? ''}
        onClose={() => setReport(null)}
      />
    </div>
  );
}

/**
 * For stage members: the room security code of the stage's MLS epoch (the same on every stage
 * member's screen only if nobody else is in the encryption: speakers read it aloud), and any device
 * in the stage's encryption group that is not on the stage shown here (membership the app server
 * added is never invisible).
 */
function StageSecurity({ view, state }: { view: E2eeView; state: RoomState }) {
  if (!view.securityCode) return null;
  const unknown = view.stageDevices.filter(
    (d) => !state.stage.some((m) => m.user.id === d.userId && m.device?.id === d.deviceId),
  );
  return (
    <>
      <p className="note security-code">
        <span>
          Security code{' '}
          <strong className="mono" data-testid="security-code">
            {view.securityCode}
          </strong>
        </span>
        <span className="muted small">
          Read it aloud: every speaker sees the same code only if no one else is in the encryption.
        </span>
      </p>
      {unknown.length > 0 && (
        <p className="note note-warn" role="alert" data-testid="unknown-stage-devices">
          {plural(unknown.length, 'device')} in the stage’s encryption {unknown.length === 1 ? 'is' : 'are'}{' '}
          not on the stage: {unknown.map((d) => d.deviceId).join(', ')}
        </p>
      )}
    </>
  );
}

/** Trust on first use: someone's device keys differ from those this browser first saw. */
function KeyChangeWarning({ view, state }: { view: E2eeView; state: RoomState }) {
  if (view.keyChanged.size === 0) return null;
  const who = [...state.stage, ...state.audience].filter((m) => view.keyChanged.has(m.user.id));
  return (
    <div className="note note-warn banner" role="alert" data-testid="key-changed">
      <span>
        Security keys changed for{' '}
        {who.map((m, i) => (
          <span key={m.user.id}>
            {i > 0 && ', '}
            <Link href={paths.profile(m.user.username)}>{m.user.displayName}</Link>
          </span>
        ))}
        . Compare safety numbers on their profile before you trust what they say here.
      </span>
    </div>
  );
}

function ConnectionBadge({ status }: { status: ConnectionStatus }) {
  if (status === 'connected') return null;
  const text =
    status === 'connecting'
      ? 'Connecting audio…'
      : status === 'reconnecting'
        ? 'Reconnecting…'
        : 'Audio disconnected';
  return (
    <span className={`pill pill-${status}`} role="status">
      {text}
    </span>
  );
}

function MemberTile({
  member,
  where,
  isMe,
  speaking,
  muted,
  onOpen,
}: {
  member: Member;
  where: 'stage' | 'audience';
  isMe: boolean;
  speaking: boolean;
  muted: boolean;
  onOpen: () => void;
}) {
  const mod = member.role === 'moderator';
  const hand = member.handRaisedAt !== null;
  const parts = [member.user.displayName + (isMe ? ' (you)' : '')];
  if (mod) parts.push('moderator');
  if (where === 'stage') parts.push(speaking ? 'speaking' : muted ? 'muted' : 'not speaking');
  if (hand) parts.push('hand raised');
  if (member.invitedToSpeak) parts.push('invited to speak');
  return (
    <li
      data-testid={`${where}-member`}
      data-username={member.user.username}
      data-speaking={speaking ? 'true' : 'false'}
      data-role={member.role}
    >
      <button type="button" className="member" onClick={onOpen} aria-haspopup="dialog">
        {/* the name as read: the full name and state (it contains the visible first name) */}
        <span className="sr-only">{parts.join(', ')}</span>
        <span className={speaking ? 'avatar-ring speaking' : 'avatar-ring'}>
          <Avatar user={member.user} size={where === 'stage' ? 'xl' : 'lg'} />
          {where === 'stage' && muted && (
            <span className="badge-muted" aria-hidden="true">
              <MicOffIcon />
            </span>
          )}
          {hand && (
            <span className="badge-hand" aria-hidden="true">
              <HandIcon />
            </span>
          )}
        </span>
        <span className="member-name" aria-hidden="true">
          {mod && <span className="badge-mod">✱</span>}
          {member.user.displayName.split(/\s+/)[0]}
          {isMe && <span className="muted"> (you)</span>}
        </span>
        {speaking && (
          <span className="member-speaking" aria-hidden="true">
            speaking
          </span>
        )}
      </button>
    </li>
  );
}

const MicOffIcon = () => (
  <StrokeIcon
    size={14}
    d="M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 4.8 2.4M15 10V6a3 3 0 0 0-5.6-1.5M5 11a7 7 0 0 0 11.5 5.3M19 11a7 7 0 0 1-.6 2.8M12 18v3M3 3l18 18"
  />
);
const HandIcon = () => (
  <StrokeIcon
    size={18}
    width={1.9}
    d="M8 12V5.5a1.5 1.5 0 0 1 3 0V11m0-6.5a1.5 1.5 0 0 1 3 0V11m0-5a1.5 1.5 0 0 1 3 0v6.5m0-3a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-1a6 6 0 0 1-5-2.7L4.3 15a1.6 1.6 0 0 1 2.6-1.9L8 14.5"
  />
);
const MicIcon = () => (
  <StrokeIcon
    size={20}
    d="M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3"
  />
);

function MicButton({
  mic,
  connection,
  session,
}: {
  mic: MicState;
  connection: ConnectionStatus;
  session: RoomSession | null;
}) {
  const [busy, setBusy] = useState(false);
  if (!mic.published) {
    return (
      <span className="mic-pending" role="status">
        {connection === 'connected' ? 'Starting your mic…' : 'Waiting for audio…'}
      </span>
    );
  }
  return (
    <button
      type="button"
      className={mic.muted ? 'btn btn-round btn-mic muted' : 'btn btn-round btn-mic live'}
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        try {
          await session?.setMicMuted(!mic.muted);
        } finally {
          setBusy(false);
        }
      }}
    >
      {mic.muted ? <MicOffIcon /> : <MicIcon />}
      {mic.muted ? 'Unmute microphone' : 'Mute microphone'}
    </button>
  );
}

function MemberSheet({
  member,
  state,
  isMe,
  muted,
  onClose,
  onAct,
  onRemove,
  onReport,
}: {
  member: Member | null;
  state: RoomState;
  isMe: boolean;
  muted: boolean;
  onClose: () => void;
  onAct: (fn: () => Promise<RoomState | undefined>) => void;
  /** Through the session, so the E2EE room key is replaced at once. */
  onRemove: (userId: string, block: boolean) => void;
  onReport: (m: Member) => void;
}) {
  const moderator = isModerator(state);
  const m = member;
  return (
    <Dialog open={m !== null} onClose={onClose} title={m ? m.user.displayName : 'Member'} className="sheet">
      {m && (
        <div className="stack">
          <div className="sheet-person">
            <Avatar user={m.user} size="xl" />
            <div>
              <p className="sheet-name">{m.user.displayName}</p>
              <p className="muted">@{m.user.username}</p>
              <p className="muted small">
                {m.role === 'moderator' ? 'Moderator' : m.role === 'speaker' ? 'Speaker' : 'Listener'}
                {m.handRaisedAt !== null && ' · hand raised'}
                {m.invitedToSpeak && ' · invited to speak'}
              </p>
            </div>
          </div>
          <Link href={paths.profile(m.user.username)} className="btn btn-secondary btn-block">
            View profile
          </Link>
          {moderator && !isMe && (
            <div className="sheet-actions">
              <p className="section-label">Moderator actions</p>
              {m.role === 'listener' && !m.invitedToSpeak && (
                <button
                  type="button"
                  className="btn btn-primary"
                  onClick={() => onAct(() => api.inviteToSpeak(state.id, m.user.id))}
                >
                  Invite to the stage
                </button>
              )}
              {m.role !== 'listener' && (
                <button
                  type="button"
                  className="btn btn-secondary"
                  onClick={() => onAct(() => api.setRole(state.id, m.user.id, 'listener'))}
                >
                  Move to audience
                </button>
              )}
              {m.role !== 'listener' && !muted && (
                <button
                  type="button"
                  className="btn btn-secondary"
                  onClick={() => onAct(() => api.muteMember(state.id, m.user.id))}
                >
                  Mute this speaker
                </button>
              )}
              {m.role === 'speaker' && (
                <button
                  type="button"
                  className="btn btn-secondary"
                  onClick={() => onAct(() => api.setRole(state.id, m.user.id, 'moderator'))}
                >
                  Make moderator
                </button>
              )}
              {m.role === 'moderator' && (
                <button
                  type="button"
                  className="btn btn-secondary"
                  onClick={() => onAct(() => api.setRole(state.id, m.user.id, 'speaker'))}
                >
                  Make speaker
                </button>
              )}
              <button
                type="button"
                className="btn btn-danger-ghost"
                onClick={() => onRemove(m.user.id, false)}
              >
                Remove from room
              </button>
              <button type="button" className="btn btn-danger" onClick={() => onRemove(m.user.id, true)}>
                Remove and block
              </button>
            </div>
          )}
          {!isMe && (
            <button type="button" className="btn btn-ghost btn-block" onClick={() => onReport(m)}>
              Report {m.user.displayName}
            </button>
          )}
        </div>
      )}
    </Dialog>
  );
}

function ChatPanel({ chat, session }: { chat: readonly ChatMessage[]; session: RoomSession | null }) {
  const [text, setText] = useState('');
  const { busy, error, setError, run } = useAction();
  const logRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when messages arrive
  useEffect(() => {
    const el = logRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [chat.length]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = text.trim();
    if (!t || !session) return;
    const ok = await run(async () => {
      await session.sendChat(t);
      return true;
    });
    if (ok) setText('');
  };
  return (
    <section className="card chat" aria-labelledby="chat-h">
      <h2 id="chat-h">Chat</h2>
      {/* role=log on a wrapper: on the <ol> itself it would drop the list semantics */}
      <div role="log" aria-live="polite" aria-label="Chat messages">
        <ol
          className="chat-log"
          ref={logRef}
          onScroll={(e) => {
            const el = e.currentTarget;
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}
        >
          {chat.length === 0 && <li className="chat-empty muted small">No messages yet. Say hello.</li>}
          {chat.map((m) =>
            m.user ? (
              <li key={m.id} className="chat-msg">
                <span className="chat-author">{m.user.displayName}</span>
                <span className="chat-text">{m.text}</span>
              </li>
            ) : (
              <li key={m.id} className="chat-system">
                {m.text}
              </li>
            ),
          )}
        </ol>
      </div>
      <form className="chat-form" onSubmit={submit}>
        <label className="sr-only" htmlFor="chat-input">
          Message
        </label>
        <input
          id="chat-input"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            if (error) setError(null);
          }}
          maxLength={500}
          placeholder="Say something nice"
          autoComplete="off"
        />
        <button type="submit" className="btn btn-primary" disabled={busy || !text.trim()}>
          Send
        </button>
      </form>
      <ErrorNote error={error} />
    </section>
  );
}

function PingForm({ roomId }: { roomId: string }) {
  const [username, setUsername] = useState('');
  const [sent, setSent] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  return (
    <section className="card" aria-labelledby="ping-h">
      <h2 id="ping-h">Ping someone in</h2>
      <form
        className="chat-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const u = username.trim().replace(/^@/, '').toLowerCase();
          if (!u) return;
          const ok = await run(async () => {
            await api.ping(roomId, u);
            return true;
          });
          if (ok) {
            setSent(u);
            setUsername('');
          }
        }}
      >
        <label className="sr-only" htmlFor="ping-input">
          Username to ping
        </label>
        <input
          id="ping-input"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          placeholder="@username"
          autoCapitalize="none"
          spellCheck={false}
          autoComplete="off"
        />
        <button type="submit" className="btn btn-secondary" disabled={busy || !username.trim()}>
          Ping
        </button>
      </form>
      <div aria-live="polite">{sent && <p className="note note-ok small">Pinged @{sent}.</p>}</div>
      <ErrorNote error={error} />
    </section>
  );
}
