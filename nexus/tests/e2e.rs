//! End to end, everything real and nothing in-process: anvil with the contracts (the deploy
//! script) and the catalog (the seed script, as `make dev` lists it), a private PostgreSQL,
//! dockerd with the agent images, and `nexus indexer`, `nexus graphql` and `nexus relayer` as
//! child processes. The user is the `nexus` CLI itself, run as a person would run it, and the
//! test checks what it prints and what it did on-chain:
//!
//! - the buyer lists the catalog, buys credits in USDC, runs the summarizer with `--wait`
//!   (upload, request, the subscription's status and log lines, sign-in, the output);
//! - a stranger cannot read that output (403 from the API) and cannot buy without USDC;
//! - the developer withdraws the earnings: their USDC goes up by price minus the platform fee;
//! - a run that fails (the agent rejects its input) refunds the buyer, and the CLI exits 3;
//! - with the relayer stopped, `nexus reclaim` refuses before the deadline and refunds after it
//!   (anvil's clock advanced with evm_increaseTime);
//! - gasless (a second stack, plus a real bundler, Alto, and the API's sponsorship service): a
//!   key with no ETH creates its smart account and a session key, buys with USDC in one batched
//!   user operation and runs the summarizer through the session key, all gas paid from the
//!   paymaster's EntryPoint deposit.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256, hex};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use nexus_bindings::{AgentMarketplace, IEntryPoint, TestUSDC, credit_id};
use nexus_testkit::agents::{ImageSet, images};
use nexus_testkit::{CatalogAgent, Devnet, Postgres, repo_root, seed_catalog};
use serde_json::{Value, json};

/// make dev's prices (USDC base units): 0.05, 0.10, 0.02 per execution.
const SUMMARIZER_PRICE: u64 = 50_000;
/// The marketplace's default platform fee (AgentMarketplace.DEFAULT_FEE_BPS).
const FEE_BPS: u64 = 250;
/// Anvil accounts: the seed script's developer and demo buyer, and someone else.
const DEVELOPER: usize = 4;
const BUYER: usize = 5;
const STRANGER: usize = 6;
/// USDC the seed script mints to the demo buyer.
const BUYER_USDC: u64 = 1_000_000_000;

/// A service child process, killed when dropped; its output goes to a log file.
struct Service {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &str, dir: &Path, args: &[&str], env: &[(&str, String)]) -> Service {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nexus");
        Service { child, log }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, as `make dev`'s clean-up, systemd and `docker stop` send it: the service must
    /// shut down gracefully and exit 0 within a few seconds.
    async fn stop(mut self) {
        let pid = self.child.id().expect("service still running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                let status = status.expect("wait");
                assert!(status.success(), "exit after SIGTERM: {status}\n{}", self.tail());
                assert!(self.tail().contains("SIGTERM: stopping"), "{}", self.tail());
            }
            Err(_) => {
                let _ = self.child.start_kill();
                panic!("still running 20 s after SIGTERM:\n{}", self.tail());
            }
        }
    }
}

struct Stack {
    devnet: Devnet,
    _pg: Postgres,
    api: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    services: Vec<(&'static str, Service)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Which services a stack runs beyond the basics.
#[derive(Clone, Copy, PartialEq)]
enum With {
    Basics,
    /// The API's ERC-7677 sponsorship service (`/v1/paymaster`, signed by anvil account 3).
    Sponsorship,
}

fn key_hex(signer: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(signer.to_bytes()))
}

impl Stack {
    async fn start(with: With) -> Stack {
        let catalog = images(ImageSet::Catalog).expect("agent images (docker must work)");
        let devnet = Devnet::start().await.expect("devnet");
        let image = |name: &str| catalog.get(name).unwrap_or_else(|| panic!("no image {name}")).clone();
        let (summarizer, csv, gas) = (image("summarizer"), image("csv-analyzer"), image("gas-advisor"));
        let agents = [
            CatalogAgent { name: "summarizer", image_id: &summarizer, price: SUMMARIZER_PRICE },
            CatalogAgent { name: "csv-analyzer", image_id: &csv, price: 100_000 },
            CatalogAgent { name: "gas-advisor", image_id: &gas, price: 20_000 },
        ];
        seed_catalog(&devnet, &agents, &[]).await.expect("seed the catalog");
        let pg = Postgres::start().expect("postgres");
        let db = pg.create_database("nexus").expect("createdb");
        let dir = tempfile::tempdir().expect("tempdir");
        let api_addr = format!("127.0.0.1:{}", free_port());
        let common = |rpc: String| {
            vec![
                ("NEXUS_RPC_URL", rpc),
                ("NEXUS_DATABASE_URL", db.clone()),
                ("NEXUS_DEPLOYMENTS", devnet.deployments_path().display().to_string()),
            ]
        };
        let mut indexer_env = common(devnet.ws_url());
        indexer_env.push(("NEXUS_INDEXER_STATUS_ADDR", "127.0.0.1:0".into()));
        indexer_env.push(("NEXUS_INDEXER_POLL_INTERVAL_MS", "20".into()));
        let indexer = Service::spawn("indexer", dir.path(), &["indexer"], &indexer_env);
        let mut graphql_env = common(devnet.rpc_url());
        graphql_env.push(("NEXUS_GRAPHQL_LISTEN", api_addr.clone()));
        if with == With::Sponsorship {
            graphql_env.push(("NEXUS_SPONSOR_KEY", key_hex(&devnet.signer(3))));
        }
        let graphql = Service::spawn("graphql", dir.path(), &["graphql"], &graphql_env);
        let mut stack = Stack {
            api: format!("http://{api_addr}"),
            devnet,
            _pg: pg,
            http: reqwest::Client::new(),
            dir,
            services: vec![("indexer", indexer), ("graphql", graphql)],
        };
        stack.start_relayer();
        stack.wait_for_catalog().await;
        stack
    }

    fn start_relayer(&mut self) {
        let key = key_hex(&self.devnet.signer(1));
        let env = vec![
            ("NEXUS_RPC_URL", self.devnet.rpc_url()),
            ("NEXUS_DATABASE_URL", self.services_db()),
            ("NEXUS_DEPLOYMENTS", self.devnet.deployments_path().display().to_string()),
            ("NEXUS_RELAYER_KEY", key),
            ("NEXUS_RELAYER_STATUS_ADDR", "127.0.0.1:0".into()),
        ];
        let relayer = Service::spawn("relayer", self.dir.path(), &["relayer"], &env);
        self.services.push(("relayer", relayer));
    }

    fn services_db(&self) -> String {
        self._pg.database_url("nexus")
    }

    async fn stop_relayer(&mut self) {
        let i = self.services.iter().position(|(n, _)| *n == "relayer").expect("relayer running");
        let (_, relayer) = self.services.remove(i);
        relayer.stop().await;
    }

    async fn stop(mut self) {
        for (_, s) in self.services.drain(..) {
            s.stop().await;
        }
    }

    fn logs(&self) -> String {
        self.services.iter().map(|(n, s)| format!("--- {n}:\n{}\n", s.tail())).collect()
    }

    /// Until the API lists the three agents with their metadata resolved (names).
    async fn wait_for_catalog(&mut self) {
        let start = Instant::now();
        loop {
            let body = self.gql("{ agents { nodes { name } } }", json!({})).await;
            let names: Vec<&str> = body["data"]["agents"]["nodes"]
                .as_array()
                .map_or(vec![], |n| n.iter().filter_map(|a| a["name"].as_str()).collect());
            if names.len() == 3 {
                return;
            }
            for (name, s) in &mut self.services {
                if let Ok(Some(status)) = s.child.try_wait() {
                    panic!("nexus {name} exited ({status}):\n{}", s.tail());
                }
            }
            assert!(start.elapsed() < Duration::from_secs(60), "catalog not served: {body}\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        let request =
            self.http.post(format!("{}/graphql", self.api)).json(&json!({ "query": query, "variables": variables }));
        match request.send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Runs the CLI as `account` (anvil index; `None`: no key).
    async fn nexus(&self, account: Option<usize>, args: &[&str]) -> Run {
        let key = account.map(|i| key_hex(&self.devnet.signer(i)));
        self.nexus_with(key.as_deref(), &[], args).await
    }

    /// Runs the CLI with `key` (hex) and extra environment.
    async fn nexus_with(&self, key: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("NEXUS_CONFIG")
            .env_remove("NEXUS_PRIVATE_KEY_FILE")
            .env("NEXUS_RPC_URL", self.devnet.rpc_url())
            .env("NEXUS_DEPLOYMENTS", self.devnet.deployments_path())
            .env("NEXUS_GRAPHQL_URL", &self.api)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        match key {
            Some(k) => cmd.env("NEXUS_PRIVATE_KEY", k),
            None => cmd.env_remove("NEXUS_PRIVATE_KEY"),
        };
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let started = Instant::now();
        let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("the CLI hung")
            .expect("run the CLI");
        let run = Run::from(output);
        eprintln!(
            "$ nexus {} ({:?}, exit {:?})\n{}{}",
            args.join(" "),
            started.elapsed(),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }

    fn provider(&self) -> DynProvider {
        self.devnet.dev_provider(0)
    }

    fn address(&self, account: usize) -> Address {
        self.devnet.signer(account).address()
    }

    async fn usdc(&self, account: usize) -> U256 {
        self.usdc_of(self.address(account)).await
    }

    async fn usdc_of(&self, holder: Address) -> U256 {
        let usdc = TestUSDC::new(self.devnet.deployments.contracts.usdc, self.provider());
        usdc.balanceOf(holder).call().await.expect("balanceOf")
    }

    async fn withdrawable(&self, account: usize) -> U256 {
        let d = &self.devnet.deployments.contracts;
        let market = AgentMarketplace::new(d.agent_marketplace, self.provider());
        market.withdrawable(d.usdc, self.address(account)).call().await.expect("withdrawable")
    }

    async fn credits(&self, account: usize, agent: u64, price: u64) -> U256 {
        self.credits_of(self.address(account), agent, price).await
    }

    async fn credits_of(&self, holder: Address, agent: u64, price: u64) -> U256 {
        let market = AgentMarketplace::new(self.devnet.deployments.contracts.agent_marketplace, self.provider());
        let id = credit_id::encode(U256::from(agent), U256::from(price));
        market.balanceOf(holder, id).call().await.expect("balanceOf")
    }

    /// The API's status of execution `id` once it is `want` (the indexer may lag a little).
    async fn wait_status(&self, id: &str, want: &str) {
        let start = Instant::now();
        loop {
            let body = self.gql("query($id: BigInt!) { execution(id: $id) { status } }", json!({ "id": id })).await;
            if body["data"]["execution"]["status"] == want {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "execution {id} never {want}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What one CLI invocation printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "the command failed:\n{}{}", self.stdout, self.stderr);
        self
    }

    /// Failed with `code`, saying `what` on stderr (and never panicking).
    fn fails(&self, code: i32, what: &str) {
        assert_eq!(self.code, Some(code), "expected exit {code}:\n{}{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(what), "expected `{what}` in:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }

    /// A succeeded summarizer run's output document (stdout), checked for a summary.
    fn summary(&self) -> Value {
        assert!(self.stderr.contains("status: SUCCEEDED"), "{}", self.stderr);
        let output: Value =
            serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("output not JSON ({e}):\n{}", self.stdout));
        assert!(output["summary"].as_str().is_some_and(|s| !s.is_empty()), "{output}");
        output
    }

    /// The request id from "requested execution <id> of ...".
    fn request_id(&self) -> String {
        self.stderr
            .split("requested execution ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no request id in:\n{}", self.stderr))
            .to_string()
    }
}

fn fee(price: u64) -> u64 {
    price * FEE_BPS / 10_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_run_read_withdraw_refund_and_reclaim_through_the_cli() {
    let started = Instant::now();
    let mut stack = Stack::start(With::Basics).await;
    eprintln!("stack up in {:?}", started.elapsed());
    let input = repo_root().join("agents/summarizer/example.json");
    let input = input.to_str().expect("path");
    let bad_input = stack.dir.path().join("bad.json");
    std::fs::write(&bad_input, br#"{"not": "what the summarizer takes"}"#).expect("write");
    let bad_input = bad_input.to_str().expect("path");
    assert_eq!(stack.usdc(BUYER).await, U256::from(BUYER_USDC), "the seed funds the demo buyer");

    // The catalog, priced with USDC's decimals.
    let agents = stack.nexus(None, &["agents"]).await;
    agents.ok();
    for needle in ["Summarizer", "CSV Analyzer", "Gas Advisor", "0.05 USDC", "0.1 USDC", "0.02 USDC"] {
        assert!(agents.stdout.contains(needle), "`{needle}` missing from:\n{}", agents.stdout);
    }

    // Clear refusals, nothing sent.
    stack.nexus(Some(BUYER), &["buy", "No Such Agent", "--units", "1"]).await.fails(1, "unknown agent");
    stack.nexus(Some(BUYER), &["buy", "99", "--units", "1"]).await.fails(1, "unknown agent 99");
    stack.nexus(Some(STRANGER), &["buy", "Summarizer", "--units", "1"]).await.fails(1, "insufficient USDC");
    stack.nexus(Some(STRANGER), &["run", "Summarizer", "--input", input]).await.fails(1, "no credits");
    stack.nexus(None, &["buy", "Summarizer"]).await.fails(1, "no key");

    // Buy three runs' worth: approval and purchase from the buyer's wallet.
    let buy = stack.nexus(Some(BUYER), &["buy", "Summarizer", "--units", "3"]).await;
    buy.ok();
    assert!(buy.stdout.contains("credits: 3"), "{}", buy.stdout);
    assert!(buy.stdout.contains("for 0.15 USDC"), "{}", buy.stdout);
    assert_eq!(stack.usdc(BUYER).await, U256::from(BUYER_USDC - 3 * SUMMARIZER_PRICE));
    assert_eq!(stack.credits(BUYER, 1, SUMMARIZER_PRICE).await, U256::from(3));

    // Run and wait: upload, request, subscription, sign-in, output.
    let run = stack.nexus(Some(BUYER), &["run", "Summarizer", "--input", input, "--wait"]).await;
    run.ok();
    let id = run.request_id();
    assert!(run.stderr.contains("uploaded the input"), "{}", run.stderr);
    let output = run.summary();
    assert_eq!(stack.credits(BUYER, 1, SUMMARIZER_PRICE).await, U256::from(2));
    stack.wait_status(&id, "SUCCEEDED").await;

    // The requester reads it again later; a stranger is refused by the API; nobody reads it
    // without signing in.
    let again = stack.nexus(Some(BUYER), &["output", &id]).await;
    again.ok();
    assert_eq!(serde_json::from_str::<Value>(&again.stdout).expect("json"), output);
    stack.nexus(Some(STRANGER), &["output", &id]).await.fails(1, "denied by the API (403)");
    let anonymous = stack.http.get(format!("{}/v1/executions/{id}/output", stack.api)).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);

    // The developer withdraws the earnings: price minus the platform fee.
    let earned = U256::from(SUMMARIZER_PRICE - fee(SUMMARIZER_PRICE));
    assert_eq!(stack.withdrawable(DEVELOPER).await, earned);
    let before = stack.usdc(DEVELOPER).await;
    let withdraw = stack.nexus(Some(DEVELOPER), &["withdraw"]).await;
    withdraw.ok();
    assert!(withdraw.stdout.contains("withdrew 0.04875 USDC"), "{}", withdraw.stdout);
    assert_eq!(stack.usdc(DEVELOPER).await, before + earned);
    assert_eq!(stack.withdrawable(DEVELOPER).await, U256::ZERO);
    let nothing = stack.nexus(Some(DEVELOPER), &["withdraw"]).await;
    nothing.ok();
    assert!(nothing.stdout.contains("nothing to withdraw"), "{}", nothing.stdout);

    // A failing run: the agent rejects the input, the relayer settles it as failed, the buyer is
    // refunded and the CLI says so with exit code 3.
    let failed = stack.nexus(Some(BUYER), &["run", "Summarizer", "--input", bad_input, "--wait"]).await;
    failed.fails(3, "refunded");
    assert!(failed.stderr.contains("status: FAILED"), "{}", failed.stderr);
    assert_eq!(stack.withdrawable(BUYER).await, U256::from(SUMMARIZER_PRICE));
    let before = stack.usdc(BUYER).await;
    stack.nexus(Some(BUYER), &["withdraw", "--token", "usdc"]).await.ok();
    assert_eq!(stack.usdc(BUYER).await, before + U256::from(SUMMARIZER_PRICE));

    // Nobody settles: with the relayer stopped, the buyer reclaims after the deadline.
    stack.stop_relayer().await;
    let pending = stack.nexus(Some(BUYER), &["run", "Summarizer", "--input", input]).await;
    pending.ok();
    let id = pending.request_id();
    assert_eq!(pending.stdout.trim(), id, "without --wait stdout is the request id");
    stack.wait_status(&id, "REQUESTED").await;
    stack.nexus(Some(BUYER), &["reclaim", &id]).await.fails(1, "only after its deadline");
    stack.nexus(Some(STRANGER), &["reclaim", &id]).await.fails(1, "not by");
    // Deadline = request time + the agent's max duration (60 s) + the settlement grace (300 s).
    let provider = stack.provider();
    provider.raw_request::<_, Value>("evm_increaseTime".into(), (361u64,)).await.expect("evm_increaseTime");
    provider.raw_request::<_, Value>("evm_mine".into(), ()).await.expect("evm_mine");
    let reclaim = stack.nexus(Some(BUYER), &["reclaim", &id]).await;
    reclaim.ok();
    assert!(reclaim.stdout.contains("0.05 USDC back"), "{}", reclaim.stdout);
    assert_eq!(stack.withdrawable(BUYER).await, U256::from(SUMMARIZER_PRICE));
    stack.wait_status(&id, "RECLAIMED").await;
    stack.nexus(Some(BUYER), &["reclaim", &id]).await.fails(1, "already settled or reclaimed");
    assert_eq!(stack.credits(BUYER, 1, SUMMARIZER_PRICE).await, U256::ZERO);

    stack.stop().await;
    eprintln!("end to end in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gasless_account_buys_in_one_operation_and_runs_through_a_session_key() {
    let started = Instant::now();
    let stack = Stack::start(With::Sponsorship).await;
    let alto = nexus_testkit::bundler::Alto::start(&stack.devnet).await.expect("alto");
    eprintln!("stack and bundler up in {:?}", started.elapsed());
    let dir = stack.dir.path().to_path_buf();
    let env =
        [("NEXUS_BUNDLER_URL", alto.url()), ("NEXUS_SESSION_KEY_FILE", dir.join("session.key").display().to_string())];
    // A brand-new key: no ETH anywhere, ever.
    let owner = PrivateKeySigner::random();
    let key = key_hex(&owner);
    let provider = stack.provider();
    let paymaster = stack.devnet.deployments.contracts.nexus_paymaster.expect("paymaster");
    let entry_point = IEntryPoint::new(alto.entry_point(), provider.clone());
    let deposit = || async { entry_point.balanceOf(paymaster).call().await.expect("deposit") };
    let deposit_before = deposit().await;

    let show = stack.nexus_with(Some(&key), &env, &["account", "show"]).await;
    show.ok();
    assert!(show.stdout.contains("not deployed yet"), "{}", show.stdout);
    let account: Address = show
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no account address in:\n{}", show.stdout));

    // Without USDC the purchase is refused before anything is sent.
    stack
        .nexus_with(Some(&key), &env, &["buy", "Summarizer", "--units", "2", "--account"])
        .await
        .fails(1, "insufficient USDC in account");
    nexus_testkit::bundler::mint_usdc(&stack.devnet, account, 1_000_000).await.expect("mint");

    let create = stack.nexus_with(Some(&key), &env, &["account", "create", "--session-uses", "5"]).await;
    create.ok();
    assert!(create.stdout.contains("deployed, gas sponsored"), "{}", create.stdout);
    assert!(!provider.get_code_at(account).await.expect("code").is_empty(), "account deployed");

    let buy = stack.nexus_with(Some(&key), &env, &["buy", "Summarizer", "--units", "2", "--account"]).await;
    buy.ok();
    assert!(buy.stdout.contains("one user operation"), "{}", buy.stdout);
    assert!(buy.stdout.contains("credits: 2"), "{}", buy.stdout);
    assert_eq!(stack.usdc_of(account).await, U256::from(1_000_000 - 2 * SUMMARIZER_PRICE));
    assert_eq!(stack.credits_of(account, 1, SUMMARIZER_PRICE).await, U256::from(2));

    let input = repo_root().join("agents/summarizer/example.json");
    let run = stack
        .nexus_with(
            Some(&key),
            &env,
            &["run", "Summarizer", "--input", input.to_str().expect("path"), "--account", "--wait"],
        )
        .await;
    run.ok();
    assert!(run.stderr.contains("signing with the account's session key"), "{}", run.stderr);
    let output = run.summary();
    assert_eq!(stack.credits_of(account, 1, SUMMARIZER_PRICE).await, U256::from(1));
    let id = run.request_id();
    let requester = stack.gql("query($id: BigInt!) { execution(id: $id) { requester } }", json!({ "id": id })).await;
    assert_eq!(requester["data"]["execution"]["requester"], account.to_checksum(None), "{requester}");

    // Later, the owner reads it again as the account; the key's own address is not the requester.
    let again = stack.nexus_with(Some(&key), &env, &["output", &id, "--account"]).await;
    again.ok();
    assert_eq!(serde_json::from_str::<Value>(&again.stdout).expect("json"), output);
    stack.nexus_with(Some(&key), &env, &["output", &id]).await.fails(1, "denied by the API (403)");

    let after = stack.nexus_with(Some(&key), &env, &["account", "show"]).await;
    after.ok();
    assert!(after.stdout.contains("4 executions left"), "{}", after.stdout);

    // Nobody but the paymaster paid gas.
    assert_eq!(provider.get_balance(owner.address()).await.expect("balance"), U256::ZERO);
    assert_eq!(provider.get_balance(account).await.expect("balance"), U256::ZERO);
    let deposit_after = deposit().await;
    // The deposit paid exactly what the EntryPoint charged for this account's operations (create,
    // buy, run), each sponsored by our paymaster and successful.
    let filter = alloy::rpc::types::Filter::new()
        .address(alto.entry_point())
        .event_signature(IEntryPoint::UserOperationEvent::SIGNATURE_HASH)
        .topic2(account.into_word())
        .from_block(0);
    let ops: Vec<IEntryPoint::UserOperationEvent> = provider
        .get_logs(&filter)
        .await
        .expect("logs")
        .iter()
        .map(|log| log.log_decode::<IEntryPoint::UserOperationEvent>().expect("UserOperationEvent").inner.data)
        .collect();
    assert!(ops.len() >= 3, "create, buy and run are user operations: {ops:?}");
    assert!(ops.iter().all(|op| op.paymaster == paymaster && op.success), "{ops:?}");
    let charged = ops.iter().fold(U256::ZERO, |sum, op| sum + op.actualGasCost);
    assert_eq!(deposit_before - deposit_after, charged, "the paymaster's deposit paid every operation, and only them");
    eprintln!("paymaster spent {charged} wei on {} operations", ops.len());

    stack.stop().await;
    drop(alto);
    eprintln!("gasless end to end in {:?}", started.elapsed());
}
