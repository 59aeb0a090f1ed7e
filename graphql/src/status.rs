//! What the API's `/health`, `/ready` and `/metrics` (the routes of `nexus-status`, shared with
//! the indexer and the relayer) report: ready while the database answers and the notification
//! listener is connected; metrics from [`crate::metrics::Metrics`] with the live subscriber
//! count and the listener's state sampled at scrape time.

use std::time::Duration;

use nexus_status::NotReady;

use crate::state::AppState;

/// A readiness probe must answer quickly even when the database hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The API's state as `nexus-status` sees it.
pub(crate) struct ApiStatus(pub AppState);

impl nexus_status::Status for ApiStatus {
    async fn ready(&self) -> Result<(), NotReady> {
        let state = &self.0;
        match tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.pool)).await {
            Ok(Ok(_)) if state.notifier.is_connected() => Ok(()),
            Ok(Ok(_)) => Err("notification listener not connected".into()),
            _ => Err("database unavailable".into()),
        }
    }

    fn render(&self) -> String {
        let state = &self.0;
        state.metrics.render(state.notifier.subscribers(), state.notifier.is_connected())
    }
}
