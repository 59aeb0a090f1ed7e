//! The committed SDL (`graphql/schema.graphql`) is the API's contract with frontends: this test
//! fails whenever the code's schema and the file disagree. `UPDATE_SCHEMA=1 cargo test -p
//! nexus-graphql --test schema_sdl` rewrites the file from the code.

#[test]
fn committed_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = nexus_graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "graphql/schema.graphql is stale: run `UPDATE_SCHEMA=1 cargo test -p nexus-graphql --test schema_sdl` and commit it"
    );
}
