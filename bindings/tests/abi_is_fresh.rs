//! Fails when the committed ABIs in `bindings/abi/` differ from what the current Solidity sources
//! compile to, so the Rust bindings can never silently drift from the contracts.
//!
//! Needs the Foundry artifacts (`forge build`, which `make test` runs first). With
//! `UPDATE_BINDINGS=1` it rewrites the committed copies instead of failing.

use std::path::{Path, PathBuf};

use nexus_bindings::CONTRACTS;
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bindings/ has a parent").to_owned()
}

fn artifact_abi(root: &Path, name: &str) -> Value {
    let path = root.join("out").join(format!("{name}.sol")).join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read Foundry artifact {}: {e}; run `forge build` (or `make test`) first", path.display())
    });
    let artifact: Value = serde_json::from_str(&text).expect("artifact is JSON");
    artifact.get("abi").cloned().unwrap_or_else(|| panic!("{} has no `abi` field", path.display()))
}

#[test]
fn abi_is_fresh() {
    let root = workspace_root();
    let update = std::env::var_os("UPDATE_BINDINGS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in CONTRACTS {
        let compiled = artifact_abi(&root, name);
        let committed_path = root.join("bindings").join("abi").join(format!("{name}.json"));
        let committed: Option<Value> =
            std::fs::read_to_string(&committed_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        if committed.as_ref() == Some(&compiled) {
            continue;
        }
        if update {
            let mut text = serde_json::to_string_pretty(&compiled).expect("serialise ABI");
            text.push('\n');
            std::fs::write(&committed_path, text).expect("write ABI");
            eprintln!("updated {}", committed_path.display());
        } else {
            stale.push(committed_path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "Rust bindings are stale: {} differ from the compiled contracts. Run `make bindings` and commit.",
        stale.join(", ")
    );
}
