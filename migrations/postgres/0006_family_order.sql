-- The order in which families were created, for the per-user cap (the oldest live family goes
-- first). created_at is in whole seconds, so families created in the same second tied and the
-- random id decided. Added without a default and then given one, so no existing row is rewritten:
-- families created before this migration have none and count as older than any created after.
create sequence refresh_families_seq;
alter table refresh_families add column seq bigint;
alter table refresh_families alter column seq set default nextval('refresh_families_seq');
alter sequence refresh_families_seq owned by refresh_families.seq;

-- Delegation's audit events were written as `sdlg` for a while; Auth0's type is `sd`.
update audit_events set type = 'sd' where type = 'sdlg';
