//! The agent images for tests that run containers (relayer tests, the end-to-end test): built by
//! `scripts/agents.sh` (dockerd started by it when needed) and looked up by name.
//!
//! Why build from the tests: a fresh clone has no images, and the registry pins image ids, so a
//! test must know the ids the local daemon actually holds. The script is run only when a set's
//! `target/agents/*.json` is missing or names an image the daemon does not have; its result is
//! kept for the rest of the process.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::repo_root;

/// An image set `scripts/agents.sh` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageSet {
    /// summarizer, csv-analyzer, gas-advisor (`target/agents/images.json`).
    Catalog,
    /// The relayer's containment test agents (`target/agents/hostile-images.json`).
    Hostile,
}

impl ImageSet {
    fn file(self) -> &'static str {
        match self {
            ImageSet::Catalog => "images.json",
            ImageSet::Hostile => "hostile-images.json",
        }
    }

    fn flag(self) -> Option<&'static str> {
        match self {
            ImageSet::Catalog => None,
            ImageSet::Hostile => Some("--hostile"),
        }
    }
}

/// Why the images are not available.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("cannot run scripts/agents.sh: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("scripts/agents.sh {flag} failed ({status}): docker must work for these tests")]
    Build { flag: &'static str, status: std::process::ExitStatus },
    #[error("{0} missing or unreadable after building the images")]
    Missing(String),
    #[error("image {name} ({id}) is not in the docker daemon")]
    NotInDaemon { name: String, id: String },
}

/// Image ids (`sha256:…`) by agent name for `set`, building the set first when needed.
pub fn images(set: ImageSet) -> Result<HashMap<String, String>, ImagesError> {
    static BUILT: OnceLock<Mutex<HashMap<ImageSet, HashMap<String, String>>>> = OnceLock::new();
    // One build at a time: concurrent tests would otherwise run the script side by side.
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(map) = built.get(&set) {
        return Ok(map.clone());
    }
    let root = repo_root();
    let path = root.join("target/agents").join(set.file());
    let mut map = read_images(&path);
    if map.as_ref().is_none_or(|m| !m.values().all(|id| image_present(id))) {
        let mut cmd = Command::new("bash");
        cmd.current_dir(&root).arg("scripts/agents.sh");
        if let Some(f) = set.flag() {
            cmd.arg(f);
        }
        let status = cmd.status()?;
        if !status.success() {
            return Err(ImagesError::Build { flag: set.flag().unwrap_or(""), status });
        }
        map = read_images(&path);
    }
    let map = map.ok_or_else(|| ImagesError::Missing(path.display().to_string()))?;
    if let Some((name, id)) = map.iter().find(|(_, id)| !image_present(id)) {
        return Err(ImagesError::NotInDaemon { name: name.clone(), id: id.clone() });
    }
    built.insert(set, map.clone());
    Ok(map)
}

/// The registry's `imageDigest` for an image id (`sha256:<hex>` → the 32 bytes).
pub fn digest(image_id: &str) -> Option<alloy::primitives::B256> {
    image_id.trim_start_matches("sha256:").parse().ok()
}

fn read_images(path: &Path) -> Option<HashMap<String, String>> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn image_present(id: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", id])
        .output()
        .is_ok_and(|o| o.status.success())
}
