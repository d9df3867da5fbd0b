//! Records still on their way: a stream its client left is recorded by a task once its call
//! has stopped, and shutdown waits for those tasks before it closes the ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The longest shutdown waits for pending records.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// Counts the records of abandoned streams still on their way, so that shutdown can wait for
/// them before it closes the ledger.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    count: Arc<AtomicUsize>,
    done: Arc<Notify>,
}

/// One pending record; dropping it says the record is made.
pub(crate) struct PendingRecord {
    count: Arc<AtomicUsize>,
    done: Arc<Notify>,
}

impl Pending {
    pub(crate) fn begin(&self) -> PendingRecord {
        self.count.fetch_add(1, Ordering::AcqRel);
        PendingRecord {
            count: self.count.clone(),
            done: self.done.clone(),
        }
    }

    /// Resolves once no record is pending, or after [`SETTLE_WAIT`] (each pending record
    /// waits at most a few seconds for its call to stop).
    pub(crate) async fn settled(&self) {
        let wait = async {
            loop {
                let notified = self.done.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(SETTLE_WAIT, wait).await;
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_waiters();
        }
    }
}
