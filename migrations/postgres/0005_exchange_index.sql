-- The exchange names both the family (`id = $1`) and the client it must belong to
-- (`client_id = $7`). With a client-only index the planner may reach the family through the
-- client, and it does when the table has no statistics yet (a new, restored or bulk-loaded
-- database, before autovacuum's first ANALYZE) and holds a few hundred families: it then reads
-- every family of the client per exchange. With the id in the client index, either index finds
-- the one row, whatever the statistics say. Revoking a client's families still uses it.
-- The price: the index no longer deduplicates (about 70 bytes a family: 74 MB at 10^6 families
-- against 7 MB), and building it holds writes to the table (2.2 s at 10^6 families here).
-- SQLite needs none of this: without statistics its planner takes the primary key.
drop index refresh_families_client_idx;
create index refresh_families_client_idx on refresh_families (client_id, id);
