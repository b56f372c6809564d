-- Interactive login: SSO sessions, single-use authorization codes and consent grants.

create table sessions (
    -- SHA-256 of the cookie value; the value itself is never stored.
    id_hash      blob primary key,
    user_id      text not null references users (user_id) on delete cascade,
    auth_time    bigint not null,
    created_at   bigint not null,
    last_seen_at bigint not null,
    expires_at   bigint not null,
    ip           text not null default '',
    user_agent   text not null default ''
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

create table authorization_codes (
    -- SHA-256 of the code; the row stays after use (used_at) until it expires, so a replay is seen.
    code_hash      blob primary key,
    client_id      text not null references clients (client_id) on delete cascade,
    user_id        text not null references users (user_id) on delete cascade,
    redirect_uri   text not null,
    -- Whether the authorization request named redirect_uri (then the token request must repeat it).
    redirect_uri_given boolean not null,
    scope          text not null,
    audience       text not null,
    nonce          text,
    code_challenge text,
    auth_time      bigint not null,
    device         text,
    created_at     bigint not null,
    expires_at     bigint not null,
    used_at        bigint
);
create index authorization_codes_expires_idx on authorization_codes (expires_at);

create table grants (
    id         text primary key,
    user_id    text not null references users (user_id) on delete cascade,
    client_id  text not null references clients (client_id) on delete cascade,
    audience   text not null,
    scope      text not null default '[]',
    created_at bigint not null,
    updated_at bigint not null,
    constraint grants_user_client_audience_key unique (user_id, client_id, audience)
);
create index grants_client_idx on grants (client_id);
