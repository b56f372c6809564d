-- Refresh-token families and the audit log. A family is one row however often it rotates: the
-- token carries the family id and its generation under a MAC, so no token (and no hash of one)
-- is stored, and any earlier generation is recognised as reuse.

create table refresh_families (
    id                  text primary key,
    user_id             text not null references users (user_id) on delete cascade,
    client_id           text not null references clients (client_id) on delete cascade,
    audience            text not null,
    scope               text not null,
    device              text not null default '',
    rotating            boolean not null,
    -- The generation of the one live token; earlier generations are retired.
    generation          bigint not null default 0,
    -- When the current generation retired the previous one (the leeway is measured from it).
    rotated_at          bigint,
    leeway              bigint not null default 0,
    created_at          bigint not null,
    -- Absolute end, fixed at creation; null: never.
    expires_at          bigint,
    -- Idle lifetime in seconds, measured from last_exchanged_at; null: no idle limit.
    idle_lifetime       bigint,
    last_exchanged_at   bigint not null,
    auth_time           bigint not null,
    auth_policy_version bigint not null default 0,
    -- The authorization code that started the family (a replay of it revokes the family).
    code_hash           bytea,
    initial_ip          text not null default '',
    initial_user_agent  text not null default '',
    last_ip             text not null default '',
    last_user_agent     text not null default '',
    -- What the last exchange did: issued, rotated, leeway, exchanged, reused.
    last_outcome        text not null default 'issued',
    revoked_at          bigint,
    revoked_reason      text
);
create index refresh_families_user_client_idx on refresh_families (user_id, client_id);
create index refresh_families_client_idx on refresh_families (client_id);
create index refresh_families_code_idx on refresh_families (code_hash);

create table audit_events (
    id          text primary key,
    type        text not null,
    date        bigint not null,
    description text not null,
    client_id   text,
    user_id     text,
    ip          text,
    user_agent  text,
    details     text not null default '{}'
);
create index audit_events_date_idx on audit_events (date);
create index audit_events_user_idx on audit_events (user_id);
