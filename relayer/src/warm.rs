//! The warm pool: containers pre-started per agent image so that a request skips the
//! container create and start ([`crate::Config::warm_start`]). Ours are kept at most
//! [`WARM_TTL`] and [`WARM_DEPTH`] per image; an image whose agent just failed keeps none.
//! The pool itself is a field of the relayer's shared state; the containers are made by
//! [`docker::prestart`] and labelled so that any relayer can remove them once expired.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::docker::{self, DockerError, Failure};
use crate::{Shared, unix_now};

/// Longest a pre-started container waits for a request before its owner discards it. Short:
/// an idle relayer should not hold containers (each a running agent process) for long, and a
/// busy one refills on every use anyway.
pub(crate) const WARM_TTL: Duration = Duration::from_secs(10);
/// Pre-started containers kept per image. Two, so the one a request takes was started a whole
/// request earlier: one alone is refilled only when it is taken, and under load its start
/// (~100-200 ms) is still running when the next request of a steady sequence arrives.
pub(crate) const WARM_DEPTH: usize = 2;
/// Seconds past its `warm_until` label after which any relayer removes a pre-started container:
/// more than [`ORPHAN_SWEEP`](crate::ORPHAN_SWEEP), so an owner always discards its own first.
pub(crate) const WARM_GRACE_SECS: u64 = 15;

/// A pre-started container being made or waiting, per image.
pub(crate) struct WarmSlot {
    pub(crate) born: Instant,
    handle: tokio::task::JoinHandle<Result<docker::Warm, Failure>>,
}

/// Our oldest pre-started container for `image` (the likeliest to be started already), if one
/// is (or is being) made and young enough.
pub(crate) async fn take_warm(s: &Shared, image: &str) -> Option<docker::Warm> {
    let slot = loop {
        let slot = s.warm.lock().ok()?.get_mut(image)?.pop_front()?;
        if slot.born.elapsed() < WARM_TTL {
            break slot;
        }
        discard(s, slot).await;
    };
    // Still starting: waiting for it is never slower than starting another one.
    match slot.handle.await {
        Ok(Ok(warm)) => Some(warm),
        Ok(Err(f)) => {
            tracing::warn!(error = %f, "pre-starting a container failed; starting one now");
            None
        }
        Err(_) => None,
    }
}

/// Pre-starts containers for `image` up to [`WARM_DEPTH`] (unless warm start is off, or we are
/// shutting down).
pub(crate) fn refill(s: &Arc<Shared>, image: &str) {
    if !s.config.warm_start || *s.shutdown.borrow() {
        return;
    }
    let Ok(mut warm) = s.warm.lock() else { return };
    let slots = warm.entry(image.to_string()).or_default();
    while slots.len() < WARM_DEPTH {
        slots.push_back(prestart_slot(s, image));
    }
}

pub(crate) fn prestart_slot(s: &Arc<Shared>, image: &str) -> WarmSlot {
    let n = s.warm_seq.fetch_add(1, Ordering::Relaxed);
    let (s2, image2) = (s.clone(), image.to_string());
    let handle = tokio::spawn(async move {
        let name = format!("nexus-{}-warm{n}", s2.config.owner);
        let warm_until = unix_now() + WARM_TTL.as_secs();
        // Mounted now, filled with the socket when a request takes the container (its policy
        // is not known yet): see `crate::egress`.
        let egress_dir = match &s2.egress {
            Some(rt) => Some(rt.dirs.create().map_err(|e| Failure::Engine(DockerError::RunDir(e)))?),
            None => None,
        };
        let spec = docker::RunSpec {
            name: &name,
            image_id: &image2,
            stdin: &[],
            scope: &s2.scope,
            owner: &s2.config.owner,
            request_id: docker::WARM_REQUEST,
            verified: &s2.verified,
            egress_dir: egress_dir.as_ref(),
        };
        let warm = docker::prestart(&s2.docker, &spec, &s2.config.limits, warm_until).await?;
        Ok(warm.with_egress_dir(egress_dir))
    });
    WarmSlot { born: Instant::now(), handle }
}

/// Drops `image`'s pre-started containers (its agent just failed: keep none for it).
pub(crate) fn drop_warm(s: &Arc<Shared>, image: &str) {
    let slots = s.warm.lock().ok().and_then(|mut m| m.remove(image)).unwrap_or_default();
    for slot in slots {
        let s = s.clone();
        tokio::spawn(async move { discard(&s, slot).await });
    }
}

/// Removes a pre-started container (waiting for it to exist first).
pub(crate) async fn discard(s: &Shared, slot: WarmSlot) {
    if let Ok(Ok(warm)) = slot.handle.await
        && let Err(e) = docker::remove(&s.docker, warm.id()).await
    {
        tracing::warn!(container = warm.id(), error = %e, "removing a pre-started container failed");
    }
}
