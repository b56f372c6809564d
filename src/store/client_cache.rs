//! Clients held in memory for the token endpoint, keyed by client id ([`Store::client`]).
//!
//! Every change to a client through a store forgets its entry once the statement has run, so
//! this node never authenticates against a client older than its last committed change. A change
//! made elsewhere (another node, or the CLI against a running server) is picked up when the
//! entry's [`CLIENT_CACHE_TTL`] runs out. A lookup that raced a change never stores what it read:
//! each change moves an epoch on, and an entry read under an older epoch is answered but not
//! kept. Unknown client ids are not remembered (the set of ids a caller can invent is unbounded).
//!
//! [`Store::client`]: super::Store::client

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::Client;

/// How long a client read from the database is used before it is read again: the longest a
/// change made on another node goes unseen here.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);
/// At most this many clients are held; past it, expired entries go, and if none had, all.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    client: Arc<Client>,
    loaded: Instant,
}

#[derive(Default)]
pub(super) struct ClientCache {
    entries: RwLock<HashMap<String, Entry>>,
    epoch: AtomicU64,
}

impl ClientCache {
    /// The client, if held and fresh.
    pub(super) fn get(&self, client_id: &str) -> Option<Arc<Client>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(client_id)
            .filter(|e| e.loaded.elapsed() < CLIENT_CACHE_TTL)
            .map(|e| Arc::clone(&e.client))
    }

    /// The epoch to pass to [`keep`](Self::keep): read it before reading the database.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Holds a client read from the database under `epoch`, unless a change came since.
    pub(super) fn keep(&self, client: Client, epoch: u64) -> Arc<Client> {
        let client = Arc::new(client);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock: `forget` bumps the epoch under it too.
        if self.epoch.load(Ordering::Acquire) == epoch {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, e| e.loaded.elapsed() < CLIENT_CACHE_TTL);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(
                client.client_id.clone(),
                Entry {
                    client: Arc::clone(&client),
                    loaded: Instant::now(),
                },
            );
        }
        client
    }

    /// Forgets a client that changed (or every client, with `None`).
    pub(super) fn forget(&self, client_id: Option<&str>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match client_id {
            Some(id) => {
                entries.remove(id);
            }
            None => entries.clear(),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, name: &str) -> Client {
        Client {
            client_id: id.into(),
            name: name.into(),
            description: String::new(),
            app_type: None,
            callbacks: vec![],
            allowed_logout_urls: vec![],
            web_origins: vec![],
            grant_types: Default::default(),
            token_endpoint_auth_method: crate::domain::AuthMethod::None,
            oidc_conformant: true,
            is_first_party: false,
            refresh_token: crate::domain::RefreshTokenSettings::default_for(true),
            auth_policy_version: 0,
            secret_hash: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_change_forgets_the_client() {
        let cache = ClientCache::default();
        cache.keep(client("a", "first"), cache.epoch());
        cache.keep(client("b", "other"), cache.epoch());
        assert_eq!(
            cache.get("a").map(|c| c.name.clone()).as_deref(),
            Some("first")
        );
        cache.forget(Some("a"));
        assert!(cache.get("a").is_none());
        assert!(
            cache.get("b").is_some(),
            "only the changed client is forgotten"
        );
        cache.forget(None);
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = ClientCache::default();
        let epoch = cache.epoch();
        // The database was read, then the client changed before the read was kept.
        cache.forget(Some("a"));
        let answered = cache.keep(client("a", "stale"), epoch);
        assert_eq!(answered.name, "stale", "the caller still gets what it read");
        assert!(cache.get("a").is_none(), "but it is not kept");
        cache.keep(client("a", "fresh"), cache.epoch());
        assert_eq!(
            cache.get("a").map(|c| c.name.clone()).as_deref(),
            Some("fresh")
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ClientCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            cache.keep(client(&format!("c{i}"), "n"), cache.epoch());
        }
        assert!(cache.len() <= MAX_ENTRIES, "{}", cache.len());
        assert!(cache.get(&format!("c{}", MAX_ENTRIES + 9)).is_some());
    }
}
