//! Connection tasks on a glommio executor: a panic ends that connection
//! only (logged), never the executor that serves everyone else.

use futures_lite::FutureExt;

/// Spawn `task` on the current executor, detached; a panic in it is
/// caught and logged.
pub fn spawn_connection(task: impl std::future::Future<Output = ()> + 'static) {
    glommio::spawn_local(async move {
        if std::panic::AssertUnwindSafe(task)
            .catch_unwind()
            .await
            .is_err()
        {
            crate::log!(Error, "connection task panicked; connection dropped");
        }
    })
    .detach();
}
