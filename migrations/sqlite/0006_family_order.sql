-- The order in which families were created, for the per-user cap (the oldest live family goes
-- first). created_at is in whole seconds, so families created in the same second tied and the
-- random id decided. The trigger numbers each new family one above the highest so far (not its
-- rowid: VACUUM may renumber those). Families created before this migration have none and count
-- as older than any created after.
alter table refresh_families add column seq integer;
create index refresh_families_seq_idx on refresh_families (seq);
create trigger refresh_families_seq after insert on refresh_families
begin
    update refresh_families
    set seq = coalesce((select max(seq) from refresh_families), 0) + 1
    where rowid = new.rowid;
end;

-- Delegation's audit events were written as `sdlg` for a while; Auth0's type is `sd`.
update audit_events set type = 'sd' where type = 'sdlg';
