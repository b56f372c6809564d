//! Client grants: references, uniqueness, cascades and filters.

use tessera::store::{ClientGrantFilter, Page, StoreError};

use super::*;

store_test!(client_grants_reference_clients_and_apis, |store| {
    store.insert_client(&client("c1", START)).await.unwrap();
    store
        .insert_resource_server(&api("rs1", "https://a.test/", SigningAlg::RS256))
        .await
        .unwrap();
    let g = grant("g1", "c1", "https://a.test/", &["read:x"]);
    store.insert_client_grant(&g).await.unwrap();
    assert_eq!(store.get_client_grant("g1").await.unwrap(), Some(g.clone()));
    assert_eq!(
        store
            .find_client_grant("c1", "https://a.test/")
            .await
            .unwrap(),
        Some(g.clone())
    );
    assert_eq!(
        store
            .find_client_grant("c1", "https://b.test/")
            .await
            .unwrap(),
        None
    );

    assert!(matches!(
        store
            .insert_client_grant(&grant("g2", "nobody", "https://a.test/", &[]))
            .await,
        Err(StoreError::MissingReference)
    ));
    assert!(matches!(
        store
            .insert_client_grant(&grant("g3", "c1", "https://nowhere.test/", &[]))
            .await,
        Err(StoreError::MissingReference)
    ));
    assert!(matches!(
        store
            .insert_client_grant(&grant("g4", "c1", "https://a.test/", &["write:x"]))
            .await,
        Err(StoreError::Conflict)
    ));

    let mut changed = g.clone();
    changed.scope = vec!["read:x".into(), "write:x".into()];
    changed.updated_at = START + 5;
    assert!(store.update_client_grant(&changed).await.unwrap());
    assert_eq!(store.get_client_grant("g1").await.unwrap(), Some(changed));
    assert!(
        !store
            .update_client_grant(&grant("ghost", "c1", "x", &[]))
            .await
            .unwrap()
    );

    assert!(store.delete_client_grant("g1").await.unwrap());
    assert!(!store.delete_client_grant("g1").await.unwrap());
    assert_eq!(store.get_client_grant("g1").await.unwrap(), None);
});

store_test!(upsert_client_grant_replaces_the_scope, |store| {
    store.insert_client(&client("c1", START)).await.unwrap();
    store
        .insert_resource_server(&api("rs1", "https://a.test/", SigningAlg::RS256))
        .await
        .unwrap();
    store
        .upsert_client_grant(&grant("g1", "c1", "https://a.test/", &["read:x"]))
        .await
        .unwrap();
    let mut again = grant("g-other", "c1", "https://a.test/", &["write:x"]);
    again.updated_at = START + 9;
    store.upsert_client_grant(&again).await.unwrap();

    let listed = store
        .list_client_grants(&ClientGrantFilter::default(), Page::ALL)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "g1", "the existing grant keeps its id");
    assert_eq!(listed[0].scope, ["write:x"]);
    assert_eq!(listed[0].updated_at, START + 9);
});

store_test!(
    deleting_a_client_or_an_api_deletes_its_client_grants,
    |store| {
        for id in ["c1", "c2"] {
            store.insert_client(&client(id, START)).await.unwrap();
        }
        for (id, identifier) in [("rs1", "https://a.test/"), ("rs2", "https://b.test/")] {
            store
                .insert_resource_server(&api(id, identifier, SigningAlg::RS256))
                .await
                .unwrap();
        }
        for (id, c, aud) in [
            ("g11", "c1", "https://a.test/"),
            ("g12", "c1", "https://b.test/"),
            ("g21", "c2", "https://a.test/"),
            ("g22", "c2", "https://b.test/"),
        ] {
            store
                .insert_client_grant(&grant(id, c, aud, &[]))
                .await
                .unwrap();
        }
        let all = ClientGrantFilter::default();
        assert_eq!(store.count_client_grants(&all).await.unwrap(), 4);

        assert!(store.delete_client("c1").await.unwrap());
        let left: Vec<String> = store
            .list_client_grants(&all, Page::ALL)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(left, ["g21", "g22"]);

        assert!(store.delete_resource_server("rs2").await.unwrap());
        let left: Vec<String> = store
            .list_client_grants(&all, Page::ALL)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(left, ["g21"]);
    }
);

store_test!(client_grants_list_and_count_with_filters, |store| {
    for id in ["c1", "c2"] {
        store.insert_client(&client(id, START)).await.unwrap();
    }
    for (id, identifier) in [("rs1", "https://a.test/"), ("rs2", "https://b.test/")] {
        store
            .insert_resource_server(&api(id, identifier, SigningAlg::RS256))
            .await
            .unwrap();
    }
    for (n, (id, c, aud)) in [
        ("g22", "c2", "https://b.test/"),
        ("g11", "c1", "https://a.test/"),
        ("g21", "c2", "https://a.test/"),
        ("g12", "c1", "https://b.test/"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut g = grant(id, c, aud, &["read:x"]);
        g.created_at = START + n as i64;
        store.insert_client_grant(&g).await.unwrap();
    }
    let filter = |client: Option<&str>, audience: Option<&str>| ClientGrantFilter {
        client_id: client.map(str::to_owned),
        audience: audience.map(str::to_owned),
    };
    let listed = |f: ClientGrantFilter, page: Page| {
        let store = store.clone();
        async move {
            store
                .list_client_grants(&f, page)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(filter(None, None), Page::ALL).await,
        ["g22", "g11", "g21", "g12"],
        "creation order"
    );
    assert_eq!(
        listed(filter(Some("c1"), None), Page::ALL).await,
        ["g11", "g12"]
    );
    assert_eq!(
        listed(filter(None, Some("https://a.test/")), Page::ALL).await,
        ["g11", "g21"]
    );
    assert_eq!(
        listed(filter(Some("c2"), Some("https://a.test/")), Page::ALL).await,
        ["g21"]
    );
    assert!(listed(filter(Some("c3"), None), Page::ALL).await.is_empty());
    assert_eq!(
        listed(
            filter(None, None),
            Page {
                offset: 1,
                limit: 2
            }
        )
        .await,
        ["g11", "g21"]
    );
    assert_eq!(
        store
            .count_client_grants(&filter(None, None))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .count_client_grants(&filter(Some("c2"), None))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_client_grants(&filter(Some("c1"), Some("https://b.test/")))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_client_grants(&filter(None, Some("https://nowhere.test/")))
            .await
            .unwrap(),
        0
    );
});
