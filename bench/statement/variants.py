"""Variants of tessera's exchange statement for bench/statement/run.sh, derived from the statement
it captures (never frozen copies, which would go on measuring an old statement beside a new one).
Each edit names text of the statement that must occur exactly once; when the statement changes so
that an anchor is gone, the run stops and says which."""
import re
import sys
USER_COLUMNS = ("u.connection as u_connection, u.email as u_email, u.email_verified as u_email_verified, "
    "u.name as u_name, u.nickname as u_nickname, u.blocked as u_blocked, u.logins_count as u_logins_count, "
    "u.last_login as u_last_login, u.password_changed_at as u_password_changed_at, "
    "u.created_at as u_created_at, u.updated_at as u_updated_at")
USER_CONSTANTS = ("'' as u_connection, '' as u_email, false as u_email_verified, '' as u_name, "
    "'' as u_nickname, false as u_blocked, 0::bigint as u_logins_count, null::bigint as u_last_login, "
    "null::bigint as u_password_changed_at, 0::bigint as u_created_at, 0::bigint as u_updated_at")
API_COLUMNS = "r.signing_alg as r_signing_alg, r.token_lifetime as r_token_lifetime"
API_JOIN = " and r.identifier = f.audience"
CLIENT_CHECKS = (" and c.token_endpoint_auth_method = q.auth_method and (c.token_endpoint_auth_method = "
    "'none' or c.secret_hash = q.secret_hash) and c.grant_types like '%\"refresh_token\"%'")
CLIENT_JOIN = " and c.client_id = f.client_id and c.auth_policy_version <= f.auth_policy_version"
USER_CHECKS = (" and u.user_id = f.user_id and u.blocked = false and (q.password_rule = false or "
    "u.password_changed_at is null or u.password_changed_at <= f.created_at)")
VARIANTS = [
    ("user columns constant", [(USER_COLUMNS, USER_CONSTANTS)]),
    ("no API join", [(", resource_servers r where", " where"), (API_JOIN, ""),
                     (API_COLUMNS, "'x' as r_signing_alg, 1 as r_token_lifetime")]),
    ("user join only", [(", clients c, resource_servers r where", " where"), (API_JOIN, ""),
                        (CLIENT_CHECKS, ""), (CLIENT_JOIN, ""),
                        (API_COLUMNS, "q.auth_method as r_signing_alg, length(q.secret_hash) as r_token_lifetime")]),
    ("no joins", [(", users u, clients c, resource_servers r where", " where"), (API_JOIN, ""),
                  (" and f.client_id = q.client_id" + CLIENT_CHECKS, ""), (USER_CHECKS + CLIENT_JOIN, ""),
                  (USER_COLUMNS, USER_CONSTANTS),
                  (API_COLUMNS, "q.auth_method as r_signing_alg, length(q.secret_hash)::bigint as r_token_lifetime")]),
]

def derive(statement, name, edits):
    """The statement with each edit applied; each anchor must occur exactly once."""
    for old, new in edits:
        found = statement.count(old)
        if found != 1:
            sys.exit(f"variant '{name}': its anchor occurs {found} times in the exchange statement "
                     f"(has the statement changed? update bench/statement/run.sh): {old!r}")
        statement = statement.replace(old, new)
    return statement

def plain_update(statement):
    """The floor's statement, batched the same way: one UPDATE by id of the batch's families,
    returning their own columns."""
    batch = re.search(r"from (unnest\(.*?\) with ordinality as q\([^)]*\))", statement)
    head, sep, returning = statement.partition(" returning ")
    columns = [c for c in returning.split(", ") if c.startswith("f.")]
    if not batch or not sep or not columns:
        sys.exit("variant 'plain update': no 'from unnest(…) … as q(…)' or 'returning f.…' in the "
                 "exchange statement")
    return (f"update refresh_families as f set generation = f.generation + 1 from {batch.group(1)} "
            "where f.id = q.family_id and q.generation <= f.generation returning q.idx, "
            + ", ".join(columns))

def all_variants(statement):
    out = [(name, derive(statement, name, edits)) for name, edits in VARIANTS]
    return out + [("plain update", plain_update(statement))]
