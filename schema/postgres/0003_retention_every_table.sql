-- Errata schema for PostgreSQL, version 3: retention and the size cap reach every table, as
-- schema/0003_retention_every_table.sql. Never edit once landed.

-- A user report lives and dies with its event, as attachments do through their foreign key.
CREATE FUNCTION errata_delete_user_reports() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_reports WHERE project_id = OLD.project_id AND event_id = OLD.event_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_delete_user_reports AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION errata_delete_user_reports();

-- Reports kept before a report had to name a stored event.
DELETE FROM user_reports WHERE NOT EXISTS (
    SELECT 1 FROM events e WHERE e.project_id = user_reports.project_id AND e.event_id = user_reports.event_id
);

-- Retention deletes by age; these find the old rows without scanning the tables.
CREATE INDEX user_reports_by_date ON user_reports (date_created);
CREATE INDEX outcomes_by_day ON outcomes (day);
