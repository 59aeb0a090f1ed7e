//! The loader, fed the real command line (`crate::command()`), a file in a temporary directory
//! and an explicit environment map (never the process environment, which parallel tests share).

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use nexus_bindings::Deployments;

use super::secret::Secret;
use super::*;

/// The built-in defaults of every section, as the loader sees them with no file, environment
/// or flag.
pub(crate) fn defaults() -> Settings {
    load_with(None, &[], &["nexus", "agents"]).expect("defaults load")
}

/// A deployments value for building service configs (addresses do not matter to them).
pub(crate) fn deployments() -> Deployments {
    Deployments {
        chain_id: 31337,
        deployment_block: 1,
        contracts: nexus_bindings::ContractAddresses {
            agent_registry: Address::repeat_byte(1),
            agent_marketplace: Address::repeat_byte(2),
            usdc: Address::repeat_byte(3),
            entry_point: None,
            nexus_account_factory: None,
            nexus_paymaster: None,
        },
        roles: nexus_bindings::RoleHolders {
            admin: Address::repeat_byte(4),
            curator: Address::repeat_byte(4),
            relayer: Address::repeat_byte(5),
            treasury: Address::repeat_byte(6),
            sponsor: None,
        },
    }
}

/// Loads with `file` (TOML text, written to a temporary file) under `env` under the flags of
/// the command line `args`.
fn load_with(file: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = file.map(|text| {
        let path = dir.path().join("nexus.toml");
        std::fs::write(&path, text).expect("write the configuration file");
        path
    });
    let matches = crate::command().try_get_matches_from(args).expect("the command line parses");
    let env: Environment = env.iter().copied().collect();
    load(path.as_deref(), &env, &Flags::from_matches(&matches)?)
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nexus.example.toml")
}

/// One key per section, set in each layer in turn: each layer overrides the one before.
#[test]
fn each_layer_overrides_the_one_before() {
    struct Case {
        command: &'static str,
        file: &'static str,
        env: &'static str,
        flag: &'static str,
        get: fn(&Settings) -> String,
        values: [&'static str; 3],
    }
    let cases = [
        Case {
            command: "agents",
            file: "rpc_url = \"{}\"",
            env: "NEXUS_RPC_URL",
            flag: "--rpc-url",
            get: |s| s.shared.rpc_url.clone(),
            values: ["http://file:8545", "http://env:8545", "http://flag:8545"],
        },
        Case {
            command: "indexer",
            file: "[indexer]\nmax_reorg_depth = {}",
            env: "NEXUS_INDEXER_MAX_REORG_DEPTH",
            flag: "--max-reorg-depth",
            get: |s| s.indexer.max_reorg_depth.to_string(),
            values: ["10", "20", "30"],
        },
        // request_timeout_ms had neither a variable nor a flag before.
        Case {
            command: "graphql",
            file: "[graphql]\nrequest_timeout_ms = {}",
            env: "NEXUS_GRAPHQL_REQUEST_TIMEOUT_MS",
            flag: "--request-timeout-ms",
            get: |s| s.graphql.request_timeout_ms.to_string(),
            values: ["1000", "2000", "3000"],
        },
        // Nor had lease_secs.
        Case {
            command: "relayer",
            file: "[relayer]\nlease_secs = {}",
            env: "NEXUS_RELAYER_LEASE_SECS",
            flag: "--lease-secs",
            get: |s| s.relayer.lease_secs.to_string(),
            values: ["5", "6", "7"],
        },
    ];
    let default_settings = defaults();
    for case in cases {
        let [file_value, env_value, flag_value] = case.values;
        let file = case.file.replace("{}", file_value);
        let bare = ["nexus", case.command];
        let flagged = ["nexus", case.command, case.flag, flag_value];
        let env = [(case.env, env_value)];
        let layered = |file: Option<&str>, env: &[(&str, &str)], args: &[&str]| {
            (case.get)(&load_with(file, env, args).expect("loads"))
        };
        let default = (case.get)(&default_settings);
        assert!(![file_value, env_value, flag_value].contains(&default.as_str()), "{}: values differ", case.env);
        assert_eq!(layered(None, &[], &bare), default, "{}: default", case.env);
        assert_eq!(layered(Some(&file), &[], &bare), file_value, "{}: file over default", case.env);
        assert_eq!(layered(Some(&file), &env, &bare), env_value, "{}: environment over file", case.env);
        assert_eq!(layered(Some(&file), &env, &flagged), flag_value, "{}: flag over environment", case.env);
        assert_eq!(layered(None, &[], &flagged), flag_value, "{}: flag alone", case.env);
    }
}

/// Every key has a variable, a list is split on commas, and the older names still work (the
/// rule's name winning over them).
#[test]
fn every_key_reads_its_environment_variable() {
    let env = [
        ("NEXUS_GRAPHQL_BLOB_BURST", "7.5"),
        ("NEXUS_GRAPHQL_DEVELOPMENT", "false"),
        ("NEXUS_GRAPHQL_CORS_ORIGINS", "https://a.example,https://b.example"),
        ("NEXUS_RELAYER_WARM_START", "false"),
        ("NEXUS_INDEXER_FALLBACK_RPC_URLS", "http://a:8545,http://b:8545"),
        ("NEXUS_IPFS_GATEWAY", "https://ipfs.example/ipfs"),
        ("NEXUS_RECEIPT_TIMEOUT", "9"),
        ("NEXUS_SPONSOR_KEY", "0xaa"),
    ];
    let settings = load_with(None, &env, &["nexus", "graphql"]).expect("loads");
    assert_eq!(settings.graphql.blob_burst, 7.5);
    assert!(!settings.graphql.development);
    assert_eq!(settings.graphql.cors_origins, ["https://a.example", "https://b.example"]);
    assert!(!settings.relayer.warm_start);
    assert_eq!(settings.indexer.fallback_rpc_urls, ["http://a:8545", "http://b:8545"]);
    assert_eq!(settings.indexer.ipfs_gateway, "https://ipfs.example/ipfs");
    assert_eq!(settings.shared.receipt_timeout_secs, 9);
    assert_eq!(settings.graphql.sponsor_key.as_ref().map(Secret::expose), Some("0xaa"));

    let both = [("NEXUS_SPONSOR_KEY", "0xaa"), ("NEXUS_GRAPHQL_SPONSOR_KEY", "0xbb")];
    let settings = load_with(None, &both, &["nexus", "graphql"]).expect("loads");
    assert_eq!(settings.graphql.sponsor_key.as_ref().map(Secret::expose), Some("0xbb"));
}

/// A secret's `_file` form is read and trimmed, and whichever form the highest layer used wins.
#[test]
fn secrets_come_from_files_and_the_highest_layer_wins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("relayer.key");
    std::fs::write(&key_file, "  0xfromfile\n").expect("write the key");
    let key_file = key_file.to_str().expect("utf-8 path");
    let relayer_key = |s: &Settings| {
        secret::resolve("key", s.relayer.key.as_ref(), s.relayer.key_file.as_deref())
            .expect("resolves")
            .map(|k| k.expose().to_owned())
    };

    let from_env = load_with(None, &[("NEXUS_RELAYER_KEY_FILE", key_file)], &["nexus", "relayer"]).expect("loads");
    assert_eq!(relayer_key(&from_env).as_deref(), Some("0xfromfile"));

    // The file names a key file; the environment's raw key overrides it.
    let file = format!("[relayer]\nkey_file = \"{key_file}\"");
    let raw_over_file =
        load_with(Some(&file), &[("NEXUS_RELAYER_KEY", "0xraw")], &["nexus", "relayer"]).expect("loads");
    assert_eq!(relayer_key(&raw_over_file).as_deref(), Some("0xraw"));
    assert!(!format!("{raw_over_file:?}").contains("0xraw"), "Debug shows no secret");

    // The environment's raw key is overridden by a key file on the command line.
    let args = ["nexus", "relayer", "--key-file", key_file];
    let file_over_raw = load_with(None, &[("NEXUS_RELAYER_KEY", "0xraw")], &args).expect("loads");
    assert_eq!(relayer_key(&file_over_raw).as_deref(), Some("0xfromfile"));

    // The database URL is a secret too.
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, "postgres://nexus:pw@db/nexus\n").expect("write the url");
    let env = [("NEXUS_DATABASE_URL_FILE", url_file.to_str().expect("utf-8 path"))];
    let settings = load_with(None, &env, &["nexus", "indexer"]).expect("loads");
    assert_eq!(settings.shared.database_url().expect("resolves").expose(), "postgres://nexus:pw@db/nexus");

    // A missing file is an error naming the key and the path, and Debug never shows a secret.
    let env = [("NEXUS_GRAPHQL_TOKEN_SECRET_FILE", "/nonexistent/token")];
    let settings = load_with(None, &env, &["nexus", "graphql"]).expect("loads");
    let error = secret::resolve("token_secret", None, settings.graphql.token_secret_file.as_deref())
        .expect_err("no such file")
        .to_string();
    assert!(error.contains("token_secret_file") && error.contains("/nonexistent/token"), "{error}");
}

#[test]
fn both_forms_of_a_secret_in_one_layer_are_refused() {
    let file = "[relayer]\nkey = \"0xaa\"\nkey_file = \"/run/secrets/relayer.key\"";
    let error = load_with(Some(file), &[], &["nexus", "relayer"]).expect_err("both forms").to_string();
    assert!(error.contains("relayer.key") && error.contains("nexus.toml"), "{error}");
    let env = [("NEXUS_GRAPHQL_SPONSOR_KEY", "0xaa"), ("NEXUS_GRAPHQL_SPONSOR_KEY_FILE", "/k")];
    assert!(matches!(load_with(None, &env, &["nexus", "graphql"]), Err(ConfigError::BothSecretForms { .. })));
}

#[test]
fn unknown_keys_are_refused_naming_the_key_and_the_file() {
    for (text, key) in [
        ("no_such_option = 1", "no_such_option"),
        ("[indexer]\nno_such_option = 1", "indexer.no_such_option"),
        ("[no_such_table]\nx = 1", "no_such_table"),
    ] {
        match load_with(Some(text), &[], &["nexus", "indexer"]) {
            Err(ConfigError::UnknownKey { key: found, origin }) => {
                assert_eq!(found, key);
                assert!(origin.contains("nexus.toml"), "{origin}");
            }
            other => panic!("{text}: expected an unknown key error, got {other:?}"),
        }
    }
}

#[test]
fn a_wrong_type_names_the_key_and_its_source() {
    let error = load_with(Some("[indexer]\nconfirmations = \"many\""), &[], &["nexus", "indexer"])
        .expect_err("not a number")
        .to_string();
    assert!(error.contains("indexer.confirmations") && error.contains("nexus.toml"), "{error}");

    let env = [("NEXUS_INDEXER_CONFIRMATIONS", "many")];
    let error = load_with(None, &env, &["nexus", "indexer"]).expect_err("not a number").to_string();
    assert!(error.contains("NEXUS_INDEXER_CONFIRMATIONS") && error.contains("environment"), "{error}");
}

#[test]
fn a_missing_configuration_file_is_an_error() {
    let matches = crate::command().try_get_matches_from(["nexus", "agents"]).expect("parses");
    let flags = Flags::from_matches(&matches).expect("flags");
    let missing = Path::new("/nonexistent/nexus.toml");
    assert!(matches!(load(Some(missing), &Environment::default(), &flags), Err(ConfigError::ReadFile { .. })));
}

/// The committed example sets every key to its default (so it documents them truthfully).
#[test]
fn the_example_file_holds_the_defaults() {
    let matches = crate::command().try_get_matches_from(["nexus", "agents"]).expect("parses");
    let flags = Flags::from_matches(&matches).expect("flags");
    let loaded = load(Some(&example_path()), &Environment::default(), &flags).expect("the example loads");
    assert_eq!(loaded, defaults());
}

/// The example names every key the settings structs have, and only those: with its commented
/// keys (`# key_file = ...`) uncommented, each table's keys are exactly the declared ones and
/// every value has the key's type. A key added to a struct and not to the example fails here.
#[test]
fn the_example_file_names_every_key() {
    let text = std::fs::read_to_string(example_path()).expect("read the example");
    let uncommented: String = text
        .lines()
        .map(|line| {
            let rest = line.strip_prefix('#').map(str::trim_start);
            match rest {
                Some(rest) if is_assignment(rest) => format!("{rest}\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect();
    let document: toml::Table = toml::from_str(&uncommented).expect("the uncommented example parses");

    fn check<S: Section>(document: &toml::Table) {
        let table = match S::TABLE {
            None => document.clone(),
            Some(name) => document[name].as_table().cloned().unwrap_or_else(|| panic!("[{name}] is a table")),
        };
        let named: Vec<&String> =
            table.iter().filter(|(_, v)| S::TABLE.is_some() || !v.is_table()).map(|(k, _)| k).collect();
        let mut declared: Vec<String> = Key::all::<S>().into_iter().map(|k| k.id).collect();
        declared.extend(S::SUBTABLES.iter().map(|t| (*t).to_owned()));
        declared.sort();
        let mut named: Vec<String> = named.into_iter().cloned().collect();
        named.sort();
        assert_eq!(named, declared, "keys of {:?} in nexus.example.toml", S::TABLE);
        toml::Value::Table(table).try_into::<S>().unwrap_or_else(|e| panic!("{:?}: {e}", S::TABLE));
    }
    check::<SharedSettings>(&document);
    check::<IndexerSettings>(&document);
    check::<GraphqlSettings>(&document);
    check::<RelayerSettings>(&document);
    let tables: Vec<&String> = document.iter().filter(|(_, v)| v.is_table()).map(|(k, _)| k).collect();
    assert_eq!(tables, ["graphql", "indexer", "relayer"]);
}

/// `key = ...` with a lower-case key: a commented-out setting, not prose.
fn is_assignment(line: &str) -> bool {
    let key_len = line.bytes().take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_').count();
    key_len > 0 && line[key_len..].trim_start().starts_with('=')
}

#[test]
fn version_and_log_format_are_global_options() {
    let error = crate::command().try_get_matches_from(["nexus", "--version"]).expect_err("prints the version");
    assert_eq!(error.kind(), clap::error::ErrorKind::DisplayVersion);
    assert!(error.to_string().contains(env!("CARGO_PKG_VERSION")), "{error}");

    let matches = crate::command().try_get_matches_from(["nexus", "indexer", "--log-format", "json"]).expect("parses");
    assert_eq!(matches.get_one::<crate::logging::LogFormat>("log_format"), Some(&crate::logging::LogFormat::Json));
}

/// `--help` shows each settings flag's variable, derived by the same rule the loader reads.
#[test]
fn help_names_the_environment_variables() {
    let mut command = crate::command();
    let help = command.find_subcommand_mut("graphql").expect("graphql").render_help().to_string();
    assert!(help.contains("NEXUS_GRAPHQL_REQUEST_TIMEOUT_MS"), "{help}");
    assert!(help.contains("NEXUS_GRAPHQL_SPONSOR_KEY, NEXUS_SPONSOR_KEY"), "{help}");
}

/// A variable that is read and is not UTF-8 is an error rather than a silently different value;
/// one that is not read does not matter.
#[test]
fn a_read_variable_must_be_utf8() {
    use std::os::unix::ffi::OsStringExt;
    let matches = crate::command().try_get_matches_from(["nexus", "indexer"]).expect("parses");
    let flags = Flags::from_matches(&matches).expect("flags");
    let bad = || OsString::from_vec(vec![b'h', 0xff]);
    let env: Environment = [("NEXUS_RPC_URL", bad())].into_iter().collect();
    assert!(matches!(load(None, &env, &flags), Err(ConfigError::NotUnicode { name }) if name == "NEXUS_RPC_URL"));
    let env: Environment = [("NEXUS_SOMETHING_ELSE", bad())].into_iter().collect();
    assert!(load(None, &env, &flags).is_ok());
}

/// Every variable the binary read before the settings were declared once (`scripts/dev.sh`
/// and the tests use most of them) lands on its key. `NEXUS_RELAYER_KEY_FILE` is in
/// `secrets_come_from_files_and_the_highest_layer_wins` (with `NEXUS_RELAYER_KEY` set too it is
/// now an error, see `both_forms_of_a_secret_in_one_layer_are_refused`).
#[test]
fn every_variable_read_before_still_lands() {
    let env = [
        ("NEXUS_RPC_URL", "ws://127.0.0.1:8546"),
        ("NEXUS_DATABASE_URL", "postgres://postgres@127.0.0.1:5433/dev"),
        ("NEXUS_DEPLOYMENTS", "/tmp/31337.json"),
        ("NEXUS_RECEIPT_TIMEOUT", "30"),
        ("NEXUS_INDEXER_CONFIRMATIONS", "2"),
        ("NEXUS_INDEXER_MAX_REORG_DEPTH", "3"),
        ("NEXUS_INDEXER_MAX_BLOCK_RANGE", "2"),
        ("NEXUS_INDEXER_POLL_INTERVAL_MS", "20"),
        ("NEXUS_INDEXER_STATUS_ADDR", "127.0.0.1:0"),
        ("NEXUS_INDEXER_FALLBACK_RPC_URLS", "http://backup:8545"),
        ("NEXUS_IPFS_GATEWAY", "http://gateway/ipfs"),
        ("NEXUS_GRAPHQL_LISTEN", "127.0.0.1:4001"),
        ("NEXUS_GRAPHQL_DEVELOPMENT", "true"),
        ("NEXUS_GRAPHQL_CORS_ORIGINS", "http://localhost:3000"),
        ("NEXUS_GRAPHQL_SIWE_DOMAIN", "example.org"),
        ("NEXUS_GRAPHQL_TOKEN_SECRET", "0123456789abcdef"),
        ("NEXUS_GRAPHQL_BLOB_MAX_BYTES", "2048"),
        ("NEXUS_SPONSOR_KEY", "0xsponsor"),
        ("NEXUS_RELAYER_KEY", "0xrelayer"),
        ("NEXUS_RELAYER_CONCURRENCY", "2"),
        ("NEXUS_RELAYER_STATUS_ADDR", "127.0.0.1:0"),
    ];
    let s = load_with(None, &env, &["nexus", "relayer"]).expect("loads");
    let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
    assert_eq!(s.shared.rpc_url, "ws://127.0.0.1:8546");
    assert_eq!(s.shared.database_url().expect("url").expose(), "postgres://postgres@127.0.0.1:5433/dev");
    assert_eq!(s.shared.deployments, Path::new("/tmp/31337.json"));
    assert_eq!(s.shared.receipt_timeout_secs, 30);
    let i = &s.indexer;
    assert_eq!((i.confirmations, i.max_reorg_depth, i.max_block_range, i.poll_interval_ms), (2, 3, 2, 20));
    assert_eq!((i.status_addr.as_str(), i.ipfs_gateway.as_str()), ("127.0.0.1:0", "http://gateway/ipfs"));
    assert_eq!(i.fallback_rpc_urls, ["http://backup:8545"]);
    let g = &s.graphql;
    assert_eq!((g.listen.as_str(), g.development, g.siwe_domain.as_str()), ("127.0.0.1:4001", true, "example.org"));
    assert_eq!((g.cors_origins.as_slice(), g.blob_max_bytes), (&["http://localhost:3000".to_owned()][..], 2048));
    assert_eq!(secret(&g.token_secret).as_deref(), Some("0123456789abcdef"));
    assert_eq!(secret(&g.sponsor_key).as_deref(), Some("0xsponsor"));
    let r = &s.relayer;
    assert_eq!(
        (secret(&r.key).as_deref(), r.concurrency, r.status_addr.as_str()),
        (Some("0xrelayer"), 2, "127.0.0.1:0")
    );
}

/// `[relayer.egress]` is a nested table: read from the file, merged over its defaults, and an
/// unknown key in it is refused naming the table and the file.
#[test]
fn the_relayer_egress_table_is_read_from_the_file() {
    let file = "[relayer.egress]\nrequests = 5\n[relayer.egress.routes]\n\"https://api.openai.com\" = \"http://127.0.0.1:18702\"";
    let s = load_with(Some(file), &[], &["nexus", "relayer"]).expect("loads");
    assert_eq!(s.relayer.egress.requests, 5);
    assert_eq!(s.relayer.egress.total_time_ms, defaults().relayer.egress.total_time_ms, "the rest stays default");
    assert_eq!(
        s.relayer.egress.routes.get("https://api.openai.com").map(String::as_str),
        Some("http://127.0.0.1:18702")
    );
    let error = load_with(Some("[relayer.egress]\nrequets = 5"), &[], &["nexus", "relayer"]).expect_err("unknown");
    let text = error.to_string();
    assert!(text.contains("requets") && text.contains("relayer.egress") && text.contains("nexus.toml"), "{text}");
}
