-- The exchange names both the family (`id = $1`) and the client it must belong to
-- (`client_id = $7`). With a client-only index the planner may reach the family through the
-- client — and it does while the table's statistics are missing or stale (a new or freshly
-- loaded database, before autovacuum's first ANALYZE): it then reads every family of the client
-- per exchange, so the exchange's cost grows with the client's families. With the id in the
-- client index, either index finds the one row. Revoking a client's families still uses it.
drop index refresh_families_client_idx;
create index refresh_families_client_idx on refresh_families (client_id, id);
