-- Clients, APIs, client grants, users and signing keys. Times are Unix seconds (bigint), the same
-- on both backends; list-valued settings are JSON text.

create table clients (
    client_id                  text primary key,
    name                       text not null,
    description                text not null default '',
    app_type                   text,
    callbacks                  text not null default '[]',
    allowed_logout_urls        text not null default '[]',
    web_origins                text not null default '[]',
    grant_types                text not null default '[]',
    token_endpoint_auth_method text not null,
    oidc_conformant            boolean not null default true,
    is_first_party             boolean not null default true,
    refresh_token              text not null,
    auth_policy_version        bigint not null default 0,
    secret_hash                blob not null,
    created_at                 bigint not null,
    updated_at                 bigint not null
);

create table resource_servers (
    id                   text primary key,
    identifier           text not null,
    name                 text not null,
    allow_offline_access boolean not null default false,
    token_lifetime       bigint not null,
    signing_alg          text not null,
    scopes               text not null default '[]',
    skip_consent         boolean not null default true,
    system               text,
    created_at           bigint not null,
    updated_at           bigint not null,
    constraint resource_servers_identifier_key unique (identifier),
    constraint resource_servers_system_key unique (system)
);

create table client_grants (
    id         text primary key,
    client_id  text not null references clients (client_id) on delete cascade,
    audience   text not null references resource_servers (identifier) on delete cascade on update cascade,
    scope      text not null default '[]',
    created_at bigint not null,
    updated_at bigint not null,
    constraint client_grants_client_audience_key unique (client_id, audience)
);
create index client_grants_audience_idx on client_grants (audience);

create table users (
    user_id             text primary key,
    connection          text not null,
    email               text not null,
    email_verified      boolean not null default false,
    name                text not null default '',
    nickname            text not null default '',
    password_hash       text,
    blocked             boolean not null default false,
    logins_count        bigint not null default 0,
    last_login          bigint,
    password_changed_at bigint,
    created_at          bigint not null,
    updated_at          bigint not null,
    constraint users_connection_email_key unique (connection, email)
);

create table signing_keys (
    kid             text primary key,
    alg             text not null,
    public_jwk      text not null,
    private_key     blob not null,
    created_at      bigint not null,
    activates_at    bigint not null,
    published_until bigint
);
