-- The housekeeping purge deletes families revoked or expired before the retention cut-off
-- (`revoked_at < $1 or expires_at < $1`). Without these it scanned the whole table once a
-- minute, under SQLite's write lock. Partial: live families (revoked_at null) and families
-- without an absolute end (expires_at null) are not in them. The exchange leaves both columns
-- unchanged on its success path, so PostgreSQL's updates stay heap-only (HOT).
create index refresh_families_revoked_idx on refresh_families (revoked_at) where revoked_at is not null;
create index refresh_families_expires_idx on refresh_families (expires_at) where expires_at is not null;
