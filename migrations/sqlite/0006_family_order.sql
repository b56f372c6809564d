-- The order in which families were created, for the per-user cap (the oldest live family goes
-- first). created_at is in whole seconds, so families created in the same second tied and the
-- random id decided. SQLite gives each new row a rowid above every existing one; the trigger
-- copies it. Families created before this migration have none and count as older.
alter table refresh_families add column seq integer;
create trigger refresh_families_seq after insert on refresh_families
begin
    update refresh_families set seq = new.rowid where rowid = new.rowid;
end;
