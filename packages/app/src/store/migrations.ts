/**
 * Schema migrations, in code, run at start by Kysely's Migrator. Types are portable between SQLite
 * and PostgreSQL: text ids, bigint ms timestamps, integer flags.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against an untyped schema by design
type Db = Kysely<any>;

const initial: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('bio', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('webauthn_id', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('credentials')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('counter', 'bigint', (c) => c.notNull())
      .addColumn('transports', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('auth_flows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('challenge', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema
      .createTable('invites')
      .addColumn('code', 'text', (c) => c.primaryKey())
      .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('used_by', 'text', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema
      .createTable('waitlist')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('note', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('invite_code', 'text')
      .execute();
    await db.schema
      .createTable('follows')
      .addColumn('follower_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('followee_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('follows_pk', ['follower_id', 'followee_id'])
      .execute();
    await db.schema.createIndex('follows_followee').on('follows').column('followee_id').execute();
    await db.schema
      .createTable('user_blocks')
      .addColumn('blocker_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('blocked_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_blocks_pk', ['blocker_id', 'blocked_id'])
      .execute();
    await db.schema
      .createTable('clubs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('club_members')
      .addColumn('club_id', 'text', (c) => c.notNull().references('clubs.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('club_members_pk', ['club_id', 'user_id'])
      .execute();
    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('starts_at', 'bigint', (c) => c.notNull())
      .addColumn('club_id', 'text', (c) => c.references('clubs.id').onDelete('set null'))
      .addColumn('host_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('room_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('rooms')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('media_id', 'text', (c) => c.notNull().unique())
      .addColumn('topic', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('club_id', 'text', (c) => c.references('clubs.id').onDelete('set null'))
      .addColumn('event_id', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('capacity', 'integer', (c) => c.notNull())
      .addColumn('hand_raise', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint')
      .execute();
    await db.schema.createIndex('rooms_status').on('rooms').column('status').execute();
    await db.schema
      .createTable('room_invites')
      .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('room_invites_pk', ['room_id', 'user_id'])
      .execute();
    await db.schema
      .createTable('room_members')
      .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('handle', 'text', (c) => c.notNull())
      .addColumn('present', 'integer', (c) => c.notNull())
      .addColumn('hand_raised_at', 'bigint')
      .addColumn('invited_at', 'bigint')
      .addColumn('joined_at', 'bigint', (c) => c.notNull())
      .addColumn('stage_since', 'bigint')
      .addColumn('left_at', 'bigint')
      .addPrimaryKeyConstraint('room_members_pk', ['room_id', 'user_id'])
      .execute();
    await db.schema.createIndex('room_members_handle').on('room_members').column('handle').execute();
    await db.schema
      .createTable('room_bans')
      .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('room_bans_pk', ['room_id', 'user_id'])
      .execute();
    await db.schema
      .createTable('room_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('room_messages_room')
      .on('room_messages')
      .columns(['room_id', 'created_at'])
      .execute();
    await db.schema
      .createTable('notifications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('from_id', 'text', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('room_id', 'text', (c) => c.references('rooms.id').onDelete('set null'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('read', 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('notifications_user')
      .on('notifications')
      .columns(['user_id', 'created_at'])
      .execute();
    await db.schema
      .createTable('reports')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('reporter_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('target_user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('target_room_id', 'text', (c) => c.references('rooms.id').onDelete('set null'))
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('reports_created').on('reports').column('created_at').execute();
  },
};

/** E2EE key directory: each device's public identity keys, and which device a member joined with. */
const devices: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('devices')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('signing_public_key', 'text', (c) => c.notNull())
      .addColumn('hpke_public_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('devices_pk', ['user_id', 'device_id'])
      .execute();
    await db.schema.alterTable('room_members').addColumn('device_id', 'text').execute();
  },
};

/** Hardened rooms: constant-bitrate audio without audio-level headers. */
const hardenedRooms: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable('rooms')
      .addColumn('hardened', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

export const migrations: MigrationProvider = {
  getMigrations: async () => ({
    '0001_initial': initial,
    '0002_devices': devices,
    '0003_hardened_rooms': hardenedRooms,
  }),
};
