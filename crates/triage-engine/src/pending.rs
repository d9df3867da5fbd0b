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
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    count: AtomicUsize,
    done: Notify,
}

/// One pending record; dropping it says the record is made.
pub(crate) struct PendingRecord {
    shared: Arc<Shared>,
}

impl Pending {
    pub(crate) fn begin(&self) -> PendingRecord {
        self.shared.count.fetch_add(1, Ordering::AcqRel);
        PendingRecord {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Resolves once no record is pending, or after [`SETTLE_WAIT`] (each pending record
    /// waits at most a few seconds for its call to stop).
    pub(crate) async fn settled(&self) {
        let wait = async {
            loop {
                let notified = self.shared.done.notified();
                if self.shared.count.load(Ordering::Acquire) == 0 {
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
        if self.shared.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.done.notify_waiters();
        }
    }
}
