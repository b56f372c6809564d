//! Users (unique email per connection) and signing keys (atomic rotation, purge).

use tessera::store::{Page, StoreError};

use super::*;

store_test!(users_by_email_per_connection, |store| {
    let mut alice = user("a1", "alice@example.com");
    store.insert_user(&alice).await.unwrap();
    assert_eq!(
        store.get_user("auth0|a1").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .get_user_by_email("Username-Password-Authentication", "alice@example.com")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .get_user_by_email("other-connection", "alice@example.com")
            .await
            .unwrap(),
        None
    );

    // The same email in the same connection is a conflict; in another connection it is not.
    assert!(matches!(
        store.insert_user(&user("a2", "alice@example.com")).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.insert_user(&user("a1", "other@example.com")).await,
        Err(StoreError::Conflict)
    ));
    let mut elsewhere = user("a3", "alice@example.com");
    elsewhere.connection = "other-connection".into();
    elsewhere.created_at = START + 1;
    store.insert_user(&elsewhere).await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 2);
    let listed = store.list_users(Page::ALL).await.unwrap();
    assert_eq!(listed, vec![alice.clone(), elsewhere.clone()]);
    assert_eq!(
        store
            .list_users(Page {
                offset: 1,
                limit: 5
            })
            .await
            .unwrap(),
        vec![elsewhere.clone()]
    );

    alice.blocked = true;
    alice.email_verified = true;
    alice.password_hash = None;
    alice.logins_count = 7;
    alice.last_login = Some(START + 50);
    alice.password_changed_at = Some(START + 40);
    alice.updated_at = START + 50;
    assert!(store.update_user(&alice).await.unwrap());
    assert_eq!(
        store.get_user("auth0|a1").await.unwrap(),
        Some(alice.clone())
    );
    assert!(
        !store
            .update_user(&user("ghost", "g@example.com"))
            .await
            .unwrap()
    );

    // Moving alice onto an email another user of her connection has is a conflict.
    let bob = user("b1", "bob@example.com");
    store.insert_user(&bob).await.unwrap();
    let mut clash = bob.clone();
    clash.email = "alice@example.com".into();
    assert!(matches!(
        store.update_user(&clash).await,
        Err(StoreError::Conflict)
    ));

    assert!(store.delete_user("auth0|a1").await.unwrap());
    assert!(!store.delete_user("auth0|a1").await.unwrap());
    assert_eq!(store.get_user("auth0|a1").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_email("Username-Password-Authentication", "alice@example.com")
            .await
            .unwrap(),
        None
    );
});

store_test!(signing_keys_insert_list_rotate_and_purge, |store| {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let rs_old = key("rs-old", "RS256", START, None);
    let es = key("es-1", "ES256", START - 10, None);
    store.insert_signing_key(&rs_old).await.unwrap();
    store.insert_signing_key(&es).await.unwrap();
    // Listed by activation time.
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![es.clone(), rs_old.clone()]
    );
    assert!(matches!(
        store.insert_signing_key(&rs_old).await,
        Err(StoreError::Conflict)
    ));

    let rs_new = key("rs-new", "RS256", START + 3600, None);
    store
        .rotate_signing_key(&rs_new, &["rs-old".to_owned()], START + 90_000)
        .await
        .unwrap();
    let listed = store.list_signing_keys().await.unwrap();
    assert_eq!(listed.len(), 3);
    let find = |kid: &str| listed.iter().find(|k| k.kid == kid).cloned().unwrap();
    assert_eq!(find("rs-old").published_until, Some(START + 90_000));
    assert_eq!(find("rs-new"), rs_new);
    assert_eq!(
        find("es-1").published_until,
        None,
        "other keys are untouched"
    );

    // A rotation is all or nothing: when the new key cannot be stored, nothing is superseded.
    let dup = key("es-1", "ES256", START + 3600, None);
    assert!(matches!(
        store
            .rotate_signing_key(&dup, &["rs-new".to_owned()], START + 1)
            .await,
        Err(StoreError::Conflict)
    ));
    let after = store.list_signing_keys().await.unwrap();
    assert_eq!(after, listed, "a failed rotation changed nothing");

    // An already retiring key keeps its end of publication.
    let rs_third = key("rs-3", "RS256", START + 7200, None);
    store
        .rotate_signing_key(
            &rs_third,
            &["rs-old".to_owned(), "rs-new".to_owned()],
            START + 200_000,
        )
        .await
        .unwrap();
    let listed = store.list_signing_keys().await.unwrap();
    let find = |kid: &str| listed.iter().find(|k| k.kid == kid).cloned().unwrap();
    assert_eq!(find("rs-old").published_until, Some(START + 90_000));
    assert_eq!(find("rs-new").published_until, Some(START + 200_000));
    assert_eq!(find("rs-3").published_until, None);

    // Purge removes keys whose publication ended, only those.
    assert_eq!(store.purge_signing_keys(START + 90_000).await.unwrap(), 0);
    assert_eq!(store.purge_signing_keys(START + 90_001).await.unwrap(), 1);
    assert_eq!(kids(&store).await, ["es-1", "rs-new", "rs-3"]);
    assert_eq!(
        store.purge_signing_keys(START + 10_000_000).await.unwrap(),
        1
    );
    assert_eq!(kids(&store).await, ["es-1", "rs-3"]);
});
