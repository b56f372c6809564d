//! A write transaction that may also hold an in-process lock.
//!
//! SQLite admits one writer at a time. Writers that race for it get `SQLITE_BUSY` and wait in
//! SQLite's busy handler, which sleeps in steps of up to 100 ms whether or not the lock frees
//! sooner: under load that made the exchange's p99 hundreds of milliseconds. The SQLite store
//! therefore queues its own writers on an async mutex first, handing the lock over the moment a
//! transaction ends; the busy timeout still covers writers in other processes (the CLI).

use std::ops::{Deref, DerefMut};

use sqlx::{Database, Transaction};
use tokio::sync::OwnedMutexGuard;

pub(super) struct WriteTx<DB: Database> {
    tx: Transaction<'static, DB>,
    // Released after the transaction (fields drop in order): a writer that was cancelled
    // mid-way leaves its rollback queued on the connection ahead of the next writer.
    _lock: Option<OwnedMutexGuard<()>>,
}

impl<DB: Database> WriteTx<DB> {
    pub fn new(tx: Transaction<'static, DB>, lock: Option<OwnedMutexGuard<()>>) -> Self {
        Self { tx, _lock: lock }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}
