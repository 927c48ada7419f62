-- Errata schema for PostgreSQL: event ids kept as their 16 bytes instead of 32 hex
-- characters, as schema/0010_event_id_bytes.sql. Never edit once landed.
--
-- The type is `uuid` rather than `bytea`: it is a fixed 16 bytes with no length header,
-- compares as plain bytes in its btree indexes, and reads back as the id in psql. An event
-- id is any 32 hex digits, not necessarily a valid RFC 4122 UUID, and `uuid` stores any.
-- The cast reads the stored hex directly; an id that is not 32 hex digits fails the
-- migration, which then leaves the database as it was.

-- The foreign key compares the two columns, so it is dropped while their types change.
ALTER TABLE event_attachments DROP CONSTRAINT event_attachments_project_id_event_id_fkey;

ALTER TABLE events ALTER COLUMN event_id TYPE uuid USING event_id::uuid;
ALTER TABLE event_attachments ALTER COLUMN event_id TYPE uuid USING event_id::uuid;
ALTER TABLE user_reports ALTER COLUMN event_id TYPE uuid USING event_id::uuid;

ALTER TABLE event_attachments ADD CONSTRAINT event_attachments_project_id_event_id_fkey
    FOREIGN KEY (project_id, event_id) REFERENCES events (project_id, event_id) ON DELETE CASCADE;
