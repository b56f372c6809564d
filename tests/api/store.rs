//! The store contract: one suite, written once against the `Store` trait and run on every backend
//! (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).

use crate::helpers::support;
use tessera::domain::{
    ApiScope, AppType, AuthMethod, Client, ClientGrant, GrantType, RefreshTokenSettings,
    ResourceServer, SigningAlg, User,
};
use tessera::store::{Page, SharedStore, SigningKeyRecord, StoreError};

use crate::helpers::{Backend, START, backends, drop_database, fresh_store};

/// Runs the body once per backend with a fresh, migrated store, then drops the PG database.
macro_rules! store_test {
    ($name:ident, |$store:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in backends() {
                eprintln!("--- {} on {:?}", stringify!($name), backend);
                let ($store, pg_database) = fresh_store(backend).await;
                $body
                drop($store);
                if let Some(name) = pg_database {
                    drop_database(&name).await;
                }
            }
        }
    };
}

fn client(id: &str, created_at: i64) -> Client {
    Client {
        client_id: id.to_owned(),
        name: format!("client {id}"),
        description: "a test client".into(),
        app_type: Some(AppType::NonInteractive),
        callbacks: vec!["https://app.test/cb".into()],
        allowed_logout_urls: vec!["https://app.test/".into()],
        web_origins: vec![],
        grant_types: [GrantType::ClientCredentials].into_iter().collect(),
        token_endpoint_auth_method: AuthMethod::ClientSecretPost,
        oidc_conformant: true,
        is_first_party: true,
        refresh_token: RefreshTokenSettings::rotating_default(),
        auth_policy_version: 0,
        secret_hash: vec![1, 2, 3, 4],
        created_at,
        updated_at: created_at,
    }
}

fn api(id: &str, identifier: &str, alg: SigningAlg) -> ResourceServer {
    ResourceServer {
        id: id.to_owned(),
        identifier: identifier.to_owned(),
        name: format!("API {id}"),
        allow_offline_access: false,
        token_lifetime: 86_400,
        signing_alg: alg,
        scopes: vec![
            ApiScope {
                value: "read:x".into(),
                description: "read".into(),
            },
            ApiScope {
                value: "write:x".into(),
                description: String::new(),
            },
        ],
        skip_consent_for_verifiable_first_party_clients: true,
        system: None,
        created_at: START,
        updated_at: START,
    }
}

fn grant(id: &str, client_id: &str, audience: &str, scope: &[&str]) -> ClientGrant {
    ClientGrant {
        id: id.to_owned(),
        client_id: client_id.to_owned(),
        audience: audience.to_owned(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        created_at: START,
        updated_at: START,
    }
}

fn user(id: &str, email: &str) -> User {
    User {
        user_id: format!("auth0|{id}"),
        connection: "Username-Password-Authentication".into(),
        email: email.to_owned(),
        email_verified: false,
        name: email.to_owned(),
        nickname: id.to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        blocked: false,
        logins_count: 0,
        last_login: None,
        password_changed_at: None,
        created_at: START,
        updated_at: START,
    }
}

fn key(kid: &str, alg: &str, activates_at: i64, published_until: Option<i64>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        private_key: vec![9, 8, 7, kid.len() as u8],
        created_at: activates_at,
        activates_at,
        published_until,
    }
}

mod exchange;
mod grants;
mod users_keys;

fn ids(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.client_id.as_str()).collect()
}

async fn kids(store: &SharedStore) -> Vec<String> {
    store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

store_test!(ready_after_migrate_and_migrate_is_idempotent, |store| {
    assert!(store.ready().await.unwrap());
    store.migrate().await.expect("a second migrate is a no-op");
    assert!(store.ready().await.unwrap());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_is_not_ready() {
    let store = tessera::store::connect("sqlite::memory:", 1).await.unwrap();
    assert!(!store.ready().await.unwrap());
    store.migrate().await.unwrap();
    assert!(store.ready().await.unwrap());

    if backends().contains(&Backend::Postgres) {
        let (url, name) = tessera::testing::create_postgres_database("tessera_test").await;
        let store = tessera::store::connect(&url, 2).await.unwrap();
        let before = store.ready().await;
        store.migrate().await.unwrap();
        let after = store.ready().await;
        drop(store);
        drop_database(&name).await;
        assert!(
            !before.unwrap(),
            "PostgreSQL without migrations is not ready"
        );
        assert!(after.unwrap());
    }
}

store_test!(clients_round_trip_update_and_delete, |store| {
    let mut c = client("c1", START);
    c.app_type = None;
    c.token_endpoint_auth_method = AuthMethod::None;
    c.refresh_token = RefreshTokenSettings::legacy_default();
    c.oidc_conformant = false;
    store.insert_client(&c).await.unwrap();
    assert_eq!(store.get_client("c1").await.unwrap(), Some(c.clone()));
    assert_eq!(store.get_client("nope").await.unwrap(), None);

    assert!(matches!(
        store.insert_client(&client("c1", START + 5)).await,
        Err(StoreError::Conflict)
    ));

    c.name = "renamed".into();
    c.callbacks = vec!["https://a.test/1".into(), "https://a.test/2".into()];
    c.auth_policy_version = 3;
    c.secret_hash = vec![42; 32];
    c.updated_at = START + 10;
    assert!(store.update_client(&c).await.unwrap());
    assert_eq!(store.get_client("c1").await.unwrap(), Some(c.clone()));
    assert!(!store.update_client(&client("ghost", START)).await.unwrap());

    assert!(store.delete_client("c1").await.unwrap());
    assert!(!store.delete_client("c1").await.unwrap());
    assert_eq!(store.get_client("c1").await.unwrap(), None);
});

store_test!(clients_list_in_creation_order_with_paging, |store| {
    // Inserted out of order; listed by (created_at, client_id).
    for (id, at) in [
        ("d", START + 2),
        ("b", START + 1),
        ("a", START + 1),
        ("c", START),
    ] {
        store.insert_client(&client(id, at)).await.unwrap();
    }
    assert_eq!(store.count_clients().await.unwrap(), 4);
    let all = store.list_clients(Page::ALL).await.unwrap();
    assert_eq!(ids(&all), ["c", "a", "b", "d"]);
    let page = |offset, limit| Page { offset, limit };
    assert_eq!(
        ids(&store.list_clients(page(0, 2)).await.unwrap()),
        ["c", "a"]
    );
    assert_eq!(
        ids(&store.list_clients(page(2, 2)).await.unwrap()),
        ["b", "d"]
    );
    assert!(store.list_clients(page(4, 2)).await.unwrap().is_empty());
});

store_test!(
    upsert_client_inserts_then_replaces_the_whole_client,
    |store| {
        let mut c = client("boot", START);
        store.upsert_client(&c).await.unwrap();
        assert_eq!(store.get_client("boot").await.unwrap(), Some(c.clone()));

        c.name = "changed".into();
        c.description = "new description".into();
        c.grant_types = Default::default();
        c.secret_hash = vec![7; 32];
        c.is_first_party = false;
        c.auth_policy_version = 2;
        c.updated_at = START + 60;
        store.upsert_client(&c).await.unwrap();
        assert_eq!(store.get_client("boot").await.unwrap(), Some(c));
        assert_eq!(store.count_clients().await.unwrap(), 1);
    }
);

store_test!(resource_servers_by_id_and_identifier, |store| {
    let a = api("rs1", "https://a.test/", SigningAlg::RS256);
    store.insert_resource_server(&a).await.unwrap();
    assert_eq!(
        store.get_resource_server("rs1").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .get_resource_server_by_identifier("https://a.test/")
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_resource_server("https://a.test/").await.unwrap(),
        None
    );

    // The identifier is unique, and so is the id.
    assert!(matches!(
        store
            .insert_resource_server(&api("rs2", "https://a.test/", SigningAlg::ES256))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .insert_resource_server(&api("rs1", "https://other.test/", SigningAlg::ES256))
            .await,
        Err(StoreError::Conflict)
    ));

    let mut b = api("rs0", "https://b.test/", SigningAlg::PS256);
    b.created_at = START + 1;
    store.insert_resource_server(&b).await.unwrap();
    let listed = store.list_resource_servers(Page::ALL).await.unwrap();
    assert_eq!(listed, vec![a.clone(), b.clone()]);
    assert_eq!(store.count_resource_servers().await.unwrap(), 2);

    b.name = "B".into();
    b.token_lifetime = 60;
    b.signing_alg = SigningAlg::ES256;
    b.scopes = vec![];
    b.allow_offline_access = true;
    assert!(store.update_resource_server(&b).await.unwrap());
    assert_eq!(
        store.get_resource_server("rs0").await.unwrap(),
        Some(b.clone())
    );
    assert!(
        !store
            .update_resource_server(&api("ghost", "https://g.test/", SigningAlg::RS256))
            .await
            .unwrap()
    );

    assert!(store.delete_resource_server("rs0").await.unwrap());
    assert!(!store.delete_resource_server("rs0").await.unwrap());
    assert_eq!(store.count_resource_servers().await.unwrap(), 1);
});

store_test!(system_apis_upsert_by_system_name, |store| {
    let mut mgmt = api("sys1", "http://127.0.0.1:3000/api/v2/", SigningAlg::RS256);
    mgmt.system = Some("management".into());
    store.upsert_system_resource_server(&mgmt).await.unwrap();
    store.insert_client(&client("admin", START)).await.unwrap();
    store
        .insert_client_grant(&grant(
            "g1",
            "admin",
            "http://127.0.0.1:3000/api/v2/",
            &["read:x"],
        ))
        .await
        .unwrap();

    // A restart under another issuer: a new row id, the same `system` name.
    let mut moved = api("sys2", "https://auth.test/api/v2/", SigningAlg::RS256);
    moved.system = Some("management".into());
    moved.name = "Management".into();
    moved.updated_at = START + 100;
    store.upsert_system_resource_server(&moved).await.unwrap();

    assert_eq!(store.count_resource_servers().await.unwrap(), 1);
    let stored = store
        .get_resource_server("sys1")
        .await
        .unwrap()
        .expect("kept its id");
    assert_eq!(stored.identifier, "https://auth.test/api/v2/");
    assert_eq!(stored.name, "Management");
    assert_eq!(stored.system.as_deref(), Some("management"));
    assert_eq!(stored.updated_at, START + 100);
    assert_eq!(
        store
            .get_resource_server_by_identifier("http://127.0.0.1:3000/api/v2/")
            .await
            .unwrap(),
        None
    );
    // The client grant follows the identifier.
    let g = store
        .get_client_grant("g1")
        .await
        .unwrap()
        .expect("grant kept");
    assert_eq!(g.audience, "https://auth.test/api/v2/");
});

store_test!(api_signing_algs_are_distinct, |store| {
    assert!(store.api_signing_algs().await.unwrap().is_empty());
    for (id, alg) in [
        ("a", SigningAlg::RS256),
        ("b", SigningAlg::ES256),
        ("c", SigningAlg::RS256),
        ("d", SigningAlg::ES256),
    ] {
        store
            .insert_resource_server(&api(id, &format!("https://{id}.test/"), alg))
            .await
            .unwrap();
    }
    let mut algs = store.api_signing_algs().await.unwrap();
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    store.delete_resource_server("b").await.unwrap();
    store.delete_resource_server("d").await.unwrap();
    assert_eq!(store.api_signing_algs().await.unwrap(), ["RS256"]);
});

fn family(id: &str, user_id: &str, client_id: &str) -> tessera::domain::Family {
    tessera::domain::Family {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        audience: "https://api.test/".into(),
        scope: "offline_access".into(),
        device: "d".into(),
        rotating: true,
        generation: 0,
        rotated_at: None,
        leeway: 0,
        created_at: START,
        expires_at: Some(START + 100),
        idle_lifetime: Some(50),
        last_exchanged_at: START,
        auth_time: START,
        auth_policy_version: 0,
        code_hash: Some(vec![1, 2]),
        initial_ip: "127.0.0.1".into(),
        initial_user_agent: "ua".into(),
        last_ip: "127.0.0.1".into(),
        last_user_agent: "ua".into(),
        last_outcome: tessera::domain::RefreshOutcome::Issued,
        revoked_at: None,
        revoked_reason: None,
    }
}

store_test!(
    bulk_inserted_families_read_back_as_given_and_a_duplicate_inserts_none,
    |store| {
        let u = user("bulk", "bulk@example.com");
        store.insert_user(&u).await.unwrap();
        store.insert_client(&client("bulk", START)).await.unwrap();
        assert_eq!(support(&store).insert_families(&[]).await.unwrap(), 0);
        // More than one multi-row statement.
        let families: Vec<_> = (0..1234)
            .map(|i| family(&format!("fam{i:05}"), &u.user_id, "bulk"))
            .collect();
        assert_eq!(
            support(&store).insert_families(&families).await.unwrap(),
            1234
        );
        assert_eq!(support(&store).count_family_rows().await.unwrap(), 1234);
        assert_eq!(
            store.get_family("fam01233").await.unwrap().as_ref(),
            families.last()
        );
        let again = vec![
            family("fresh", &u.user_id, "bulk"),
            family("fam00000", &u.user_id, "bulk"),
        ];
        assert!(matches!(
            support(&store).insert_families(&again).await,
            Err(StoreError::Conflict)
        ));
        assert!(store.get_family("fresh").await.unwrap().is_none());
        assert_eq!(support(&store).count_family_rows().await.unwrap(), 1234);
    }
);

store_test!(
    the_idle_sweep_deletes_families_idle_past_retention_in_slices,
    |store| {
        let u = user("idle", "idle@example.com");
        store.insert_user(&u).await.unwrap();
        store.insert_client(&client("idle", START)).await.unwrap();
        let cutoff = START + 10_000;
        let with = |id: &str, last: i64, idle: Option<i64>, expires: Option<i64>| {
            tessera::domain::Family {
                last_exchanged_at: last,
                idle_lifetime: idle,
                expires_at: expires,
                ..family(id, &u.user_id, "idle")
            }
        };
        let families = vec![
            // Idle past the cutoff, no absolute expiry: only the sweep can reach it.
            with("a-dead", START, Some(100), None),
            // Idle past the cutoff with a far absolute expiry.
            with("b-dead", START, Some(100), Some(START + 1_000_000)),
            // Idle-expired, but after the cutoff (still within retention).
            with("c-recent", cutoff - 50, Some(100), None),
            // Alive.
            with("d-live", cutoff + 500, Some(100), None),
            // No idle lifetime: never idle-expired, however old its last exchange.
            with("e-no-idle", START, None, None),
        ];
        assert_eq!(support(&store).insert_families(&families).await.unwrap(), 5);

        // Slices of two: a-dead b-dead | c-recent d-live | e-no-idle (the end).
        let (purged, next) = store.purge_idle_families("", cutoff, 2).await.unwrap();
        assert_eq!((purged, next.as_deref()), (2, Some("b-dead")));
        let (purged, next) = store
            .purge_idle_families("b-dead", cutoff, 2)
            .await
            .unwrap();
        assert_eq!((purged, next.as_deref()), (0, Some("d-live")));
        let (purged, next) = store
            .purge_idle_families("d-live", cutoff, 2)
            .await
            .unwrap();
        assert_eq!((purged, next), (0, None));
        // Past the end: nothing scanned, start over.
        let (purged, next) = store
            .purge_idle_families("e-no-idle", cutoff, 2)
            .await
            .unwrap();
        assert_eq!((purged, next), (0, None));

        for gone in ["a-dead", "b-dead"] {
            assert!(store.get_family(gone).await.unwrap().is_none(), "{gone}");
        }
        for kept in ["c-recent", "d-live", "e-no-idle"] {
            assert!(store.get_family(kept).await.unwrap().is_some(), "{kept}");
        }
        // A second sweep from the start finds nothing more.
        let (purged, _) = store.purge_idle_families("", cutoff, 10).await.unwrap();
        assert_eq!(purged, 0);
        assert_eq!(support(&store).count_family_rows().await.unwrap(), 3);
    }
);
