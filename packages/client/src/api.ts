import type {
  ApiToken,
  AuthConfig,
  CeremonyOptions,
  CeremonyVerifyRequest,
  ChatMessage,
  Club,
  ClubDetail,
  CreateApiTokenRequest,
  CreateClubRequest,
  CreatedApiToken,
  CreateEventRequest,
  CreateRoomRequest,
  Device,
  DevSignInRequest,
  Event,
  Invite,
  JoinRoomResponse,
  Me,
  Notification,
  Profile,
  PublishDeviceRequest,
  RegisterOptionsRequest,
  ReportRequest,
  Role,
  RoomCard,
  RoomSettingsRequest,
  RoomState,
  UpdateEventRequest,
  UpdateMe,
  UserSummary,
  WaitlistEntry,
  WaitlistRequest,
} from '@sotto/app/api';
import { parseApiError } from './errors.ts';

export { ApiError, errorMessage, parseApiError } from './errors.ts';

/** Request bodies whose schema fields have defaults may omit them. */
export type CreateRoomInput = Pick<CreateRoomRequest, 'topic'> & Partial<Omit<CreateRoomRequest, 'topic'>>;
export type CreateClubInput = Pick<CreateClubRequest, 'name'> & Partial<CreateClubRequest>;
export type CreateEventInput = Omit<CreateEventRequest, 'description'> & Partial<CreateEventRequest>;
export type WaitlistInput = Pick<WaitlistRequest, 'username'> & Partial<WaitlistRequest>;
export type ReportInput = Omit<ReportRequest, 'text'> & Partial<ReportRequest>;

export interface SottoApiOptions {
  /** Origin (and optional path prefix) of the app server; '' (default) = same origin. */
  baseUrl?: string;
  /** An API token for bots and the CLI (Authorization: Bearer); browsers use the session cookie. */
  token?: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

const enc = encodeURIComponent;

/** A typed client for every route of the app API (see packages/app/README.md). */
export class SottoApi {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: SottoApiOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Absolute or same-origin URL of an API path (also used for EventSource). */
  url(path: string): string {
    return this.baseUrl + path;
  }

  /** Sends a request; resolves the parsed JSON body (undefined for 204); throws ApiError for non-2xx. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const res = await this.#fetch(this.url(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
    const text = await res.text();
    if (!res.ok) throw parseApiError(res.status, text, res.statusText);
    if (res.status === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw parseApiError(502, text, 'The server sent an unreadable answer');
    }
  }

  #get<T>(path: string, signal?: AbortSignal) {
    return this.request<T>('GET', path, undefined, signal);
  }
  #post<T>(path: string, body: unknown = {}) {
    return this.request<T>('POST', path, body);
  }
  #patch<T>(path: string, body: unknown) {
    return this.request<T>('PATCH', path, body);
  }
  #delete<T>(path: string) {
    return this.request<T>('DELETE', path);
  }

  // ---- auth ----
  registerOptions(body: RegisterOptionsRequest) {
    return this.#post<CeremonyOptions>('/api/auth/register/options', body);
  }
  registerVerify(body: CeremonyVerifyRequest) {
    return this.#post<Me>('/api/auth/register/verify', body);
  }
  loginOptions() {
    return this.#post<CeremonyOptions>('/api/auth/login/options', {});
  }
  loginVerify(body: CeremonyVerifyRequest) {
    return this.#post<Me>('/api/auth/login/verify', body);
  }
  /** Public: whether this server offers the dev sign-in to this caller. */
  authConfig() {
    return this.#get<AuthConfig>('/api/auth/config');
  }
  /** Only on a server started with --dev (404 otherwise). */
  devSignIn(body: DevSignInRequest) {
    return this.#post<Me>('/api/auth/dev', body);
  }
  logout() {
    return this.#post<void>('/api/auth/logout');
  }

  // ---- E2EE key directory ----
  publishDevice(body: PublishDeviceRequest) {
    return this.#post<Device>('/api/devices', body);
  }
  devices(username: string) {
    return this.#get<Device[]>(`/api/users/${enc(username)}/devices`);
  }

  // ---- me, invites, waitlist, tokens ----
  me(signal?: AbortSignal) {
    return this.#get<Me>('/api/me', signal);
  }
  updateMe(body: UpdateMe) {
    return this.#patch<Me>('/api/me', body);
  }
  invites() {
    return this.#get<Invite[]>('/api/invites');
  }
  createInvite() {
    return this.#post<Invite>('/api/invites');
  }
  joinWaitlist(body: WaitlistInput) {
    return this.#post<WaitlistEntry>('/api/waitlist', { note: '', ...body });
  }
  waitlist() {
    return this.#get<WaitlistEntry[]>('/api/waitlist');
  }
  inviteFromWaitlist(entryId: string) {
    return this.#post<Invite>(`/api/waitlist/${enc(entryId)}/invite`);
  }
  tokens() {
    return this.#get<ApiToken[]>('/api/tokens');
  }
  createToken(body: CreateApiTokenRequest) {
    return this.#post<CreatedApiToken>('/api/tokens', body);
  }
  revokeToken(id: string) {
    return this.#delete<void>(`/api/tokens/${enc(id)}`);
  }

  // ---- people ----
  user(username: string) {
    return this.#get<Profile>(`/api/users/${enc(username)}`);
  }
  follow(username: string) {
    return this.#post<Profile>(`/api/users/${enc(username)}/follow`);
  }
  unfollow(username: string) {
    return this.#delete<Profile>(`/api/users/${enc(username)}/follow`);
  }
  followers(username: string) {
    return this.#get<UserSummary[]>(`/api/users/${enc(username)}/followers`);
  }
  following(username: string) {
    return this.#get<UserSummary[]>(`/api/users/${enc(username)}/following`);
  }
  block(username: string) {
    return this.#post<Profile>(`/api/users/${enc(username)}/block`);
  }
  unblock(username: string) {
    return this.#delete<Profile>(`/api/users/${enc(username)}/block`);
  }
  blocks() {
    return this.#get<UserSummary[]>('/api/blocks');
  }

  // ---- clubs, events ----
  clubs() {
    return this.#get<Club[]>('/api/clubs');
  }
  createClub(body: CreateClubInput) {
    return this.#post<Club>('/api/clubs', { description: '', ...body });
  }
  club(id: string) {
    return this.#get<ClubDetail>(`/api/clubs/${enc(id)}`);
  }
  joinClub(id: string) {
    return this.#post<ClubDetail>(`/api/clubs/${enc(id)}/join`);
  }
  leaveClub(id: string) {
    return this.#post<ClubDetail>(`/api/clubs/${enc(id)}/leave`);
  }
  makeClubAdmin(id: string, username: string) {
    return this.#post<ClubDetail>(`/api/clubs/${enc(id)}/admins/${enc(username)}`);
  }
  events() {
    return this.#get<Event[]>('/api/events');
  }
  createEvent(body: CreateEventInput) {
    return this.#post<Event>('/api/events', { description: '', ...body });
  }
  updateEvent(id: string, body: UpdateEventRequest) {
    return this.#patch<Event>(`/api/events/${enc(id)}`, body);
  }
  deleteEvent(id: string) {
    return this.#delete<void>(`/api/events/${enc(id)}`);
  }
  startEvent(id: string) {
    return this.#post<RoomState>(`/api/events/${enc(id)}/start`);
  }

  // ---- hallway, rooms ----
  hallway(signal?: AbortSignal) {
    return this.#get<RoomCard[]>('/api/hallway', signal);
  }
  createRoom(body: CreateRoomInput) {
    return this.#post<RoomState>('/api/rooms', body);
  }
  room(id: string) {
    return this.#get<RoomState>(`/api/rooms/${enc(id)}`);
  }
  /** `deviceId`: the E2EE device (published with `publishDevice`) this join announces. */
  joinRoom(id: string, deviceId?: string) {
    return this.#post<JoinRoomResponse>(`/api/rooms/${enc(id)}/join`, deviceId ? { deviceId } : undefined);
  }
  leaveRoom(id: string, quiet = false) {
    return this.#post<void>(`/api/rooms/${enc(id)}/leave`, { quiet });
  }
  setHand(id: string, raised: boolean) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/hand`, { raised });
  }
  inviteToSpeak(id: string, userId: string) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/members/${enc(userId)}/invite`);
  }
  answerInvitation(id: string, accept: boolean) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/invitation`, { accept });
  }
  setRole(id: string, userId: string, role: Role) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/members/${enc(userId)}/role`, { role });
  }
  muteMember(id: string, userId: string) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/members/${enc(userId)}/mute`);
  }
  removeMember(id: string, userId: string, block = false) {
    return this.#post<RoomState>(`/api/rooms/${enc(id)}/members/${enc(userId)}/remove`, { block });
  }
  roomSettings(id: string, body: RoomSettingsRequest) {
    return this.#patch<RoomState>(`/api/rooms/${enc(id)}/settings`, body);
  }
  endRoom(id: string) {
    return this.#post<void>(`/api/rooms/${enc(id)}/end`);
  }
  ping(id: string, username: string) {
    return this.#post<void>(`/api/rooms/${enc(id)}/ping`, { username });
  }
  chat(id: string) {
    return this.#get<ChatMessage[]>(`/api/rooms/${enc(id)}/chat`);
  }
  sendChat(id: string, text: string) {
    return this.#post<ChatMessage>(`/api/rooms/${enc(id)}/chat`, { text });
  }
  /** SSE: `state`, `chat`, `ended`, `removed`. */
  roomEventsUrl(id: string) {
    return this.url(`/api/rooms/${enc(id)}/events`);
  }

  // ---- notifications, reports ----
  notifications() {
    return this.#get<Notification[]>('/api/notifications');
  }
  markNotificationsRead() {
    return this.#post<void>('/api/notifications/read');
  }
  /** SSE: `notification`. */
  notificationsStreamUrl() {
    return this.url('/api/notifications/stream');
  }
  report(body: ReportInput) {
    return this.#post<void>('/api/reports', { text: '', ...body });
  }
}
