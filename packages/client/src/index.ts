export {
  type CreateClubInput,
  type CreateEventInput,
  type CreateRoomInput,
  type ReportInput,
  SottoApi,
  type SottoApiOptions,
  type WaitlistInput,
} from './api.ts';
export {
  type ContactDevice,
  contactDevices,
  type E2eeOptions,
  type E2eeStats,
  e2eeSupported,
  trustContactDevice,
} from './e2ee/index.ts';
export { Emitter } from './emitter.ts';
export { ApiError, errorMessage, type FieldError, parseApiError } from './errors.ts';
export { NotificationStream } from './notifications.ts';
export { browserSupportsWebAuthn, devSignIn, type SignUpInput, signIn, signUp } from './passkeys.ts';
export {
  type ConnectionStatus,
  type E2eeView,
  type EventSourceLike,
  type MicState,
  RoomSession,
  type RoomSessionEvents,
  type RoomSessionOptions,
} from './room.ts';
export {
  allMembers,
  findMember,
  isModerator,
  isOnStage,
  membersByHandle,
  mergeChat,
  shouldApply,
  usersForHandles,
} from './stage.ts';
