//! `make bench-graphql`: the API under load.
//!
//! Seeds a private PostgreSQL directly (10,000 agents, 100,000 executions over 1,000
//! requesters; the `agent_stats` trigger fills statistics as the indexer's writes would), starts
//! the server, then drives it with a mix of catalog pages, agent details and
//! executions-by-requester pages over 100 HTTP/1.1 connections:
//!
//! 1. open loop at a constant 500 requests/s for 30 s: requests are scheduled on the clock and
//!    latency is measured from the scheduled instant, so a slow server cannot slow the offered
//!    load (no coordinated omission); prints `graphql.p50_ms`, `graphql.p95_ms`,
//!    `graphql.p99_ms`, `graphql.errors`;
//! 2. unthrottled for 10 s (each connection sends its next request as soon as the last one is
//!    answered); prints `graphql.max_rps`.
//!
//! Seeding SQL directly rather than through the indexer: 100k executions through anvil would
//! take minutes and measure the indexer, not the API. Built only with the `bench` feature, so
//! the test harness and HTTP client never become dependencies of the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nexus_testkit::Postgres;
use nexus_testkit::rng::Rng;
use serde_json::{Value, json};

const AGENTS: u64 = 10_000;
const EXECUTIONS: u64 = 100_000;
const REQUESTERS: u64 = 1_000;
const CONNECTIONS: usize = 100;
const RATE_PER_SECOND: u64 = 500;
const OPEN_LOOP: Duration = Duration::from_secs(30);
const UNTHROTTLED: Duration = Duration::from_secs(10);

/// Seeding SQL: deterministic rows that satisfy every CHECK of the shared schema.
const SEED: &[&str] = &[
    "INSERT INTO agents (agent_id, developer, payment_token, price, max_duration, category, status, image_digest,
        metadata_uri, registered_block, registered_tx, registered_at, updated_block, updated_at, name, description,
        tags, metadata_status, search)
     SELECT g, decode(lpad(to_hex(g % 500 + 1), 40, '0'), 'hex'),
        CASE WHEN g % 3 = 0 THEN decode(repeat('11', 20), 'hex') ELSE decode(repeat('00', 20), 'hex') END,
        (1000 + (g * 7919) % 100000)::numeric * 1000000000, 60,
        CASE WHEN g % 4 = 0 THEN 'Crypto' ELSE 'General' END,
        CASE WHEN g % 10 = 0 THEN 'Paused' ELSE 'Active' END,
        decode(md5(g::text) || md5(g::text), 'hex'), 'ipfs://agent-' || g, g,
        decode(md5('tx' || g) || md5(g::text), 'hex'), now() - (20000 - g) * interval '1 minute', g, now(),
        'Agent ' || g || ' ' || (ARRAY['summarizer','analyzer','advisor','translator','echo'])[g % 5 + 1],
        'does useful things, number ' || g, ARRAY['tag' || (g % 50), 'bench'], 'ok',
        setweight(to_tsvector('simple', 'Agent ' || g || ' ' || (ARRAY['summarizer','analyzer','advisor','translator','echo'])[g % 5 + 1]), 'A')
          || setweight(to_tsvector('simple', 'does useful things, number ' || g), 'B')
          || setweight(to_tsvector('simple', 'tag' || (g % 50) || ' bench'), 'C')
     FROM generate_series(1, 10000) g",
    "INSERT INTO executions (request_id, agent_id, requester, developer, token, credit_id, unit_price, input_hash,
        deadline, status, success, output_hash, payee, payout, fee, requested_block, requested_tx, requested_at,
        settled_block, settled_tx, settled_at)
     SELECT g, g % 10000 + 1, decode(lpad(to_hex(g % 1000 + 1), 40, 'a'), 'hex'),
        decode(lpad(to_hex((g % 10000 + 1) % 500 + 1), 40, '0'), 'hex'), decode(repeat('00', 20), 'hex'),
        (g % 10000 + 1)::numeric * 79228162514264337593543950336 + 1000, 1000,
        decode(md5('in' || g) || md5(g::text), 'hex'), now() + interval '1 hour', s.status,
        CASE s.status WHEN 'Succeeded' THEN TRUE WHEN 'Failed' THEN FALSE END,
        CASE WHEN s.status IN ('Succeeded', 'Failed') THEN decode(md5('out' || g) || md5(g::text), 'hex') END,
        CASE WHEN s.status <> 'Requested' THEN decode(lpad(to_hex(g % 1000 + 1), 40, 'a'), 'hex') END,
        CASE s.status WHEN 'Succeeded' THEN 975 WHEN 'Requested' THEN NULL ELSE 1000 END,
        CASE s.status WHEN 'Succeeded' THEN 25 WHEN 'Requested' THEN NULL ELSE 0 END,
        g, decode(md5('rq' || g) || md5(g::text), 'hex'), now() - (100000 - g) * interval '1 second',
        CASE WHEN s.status <> 'Requested' THEN g + 1 END,
        CASE WHEN s.status <> 'Requested' THEN decode(md5('st' || g) || md5(g::text), 'hex') END,
        CASE WHEN s.status <> 'Requested' THEN now() - (100000 - g) * interval '1 second' + (g % 50) * interval '1 second' END
     FROM generate_series(1, 100000) g,
        LATERAL (SELECT CASE WHEN g % 10 < 6 THEN 'Succeeded' WHEN g % 10 < 8 THEN 'Failed'
                             WHEN g % 10 = 8 THEN 'Requested' ELSE 'Reclaimed' END AS status) s",
    "INSERT INTO chain_cursor (chain_id, block_number, block_hash) VALUES (31337, 200000, decode(repeat('ab', 32), 'hex'))",
    // The steady state autovacuum keeps: the stats trigger's updates leave dead rows behind.
    "VACUUM ANALYZE",
];

const CATALOG: &str = "query Catalog($s: AgentSort, $f: AgentFilter) { agents(first: 20, sort: $s, filter: $f) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id name price category status paymentToken stats { executions successRate } } } } }";
const AGENT: &str = "query AgentDetail($id: BigInt!) { agent(id: $id) { id name description price maxDuration
    developer inputSchema outputSchema tags stats { executions succeeded failed successRate revenue medianDurationSeconds } } }";
const MINE: &str = "query MyExecutions($r: Address!) { executions(filter: {requester: $r}, first: 20) {
    totalCount edges { node { id status requestedAt settledAt outputHash agentId agent { name } } } } }";

fn request(rng: &mut Rng) -> Value {
    let r = rng.next_u64();
    match r % 3 {
        0 => {
            let sort = ["NEWEST", "PRICE_ASC", "EXECUTIONS", "SUCCESS_RATE"][(r / 3 % 4) as usize];
            let filter = match r / 12 % 4 {
                0 => json!({ "category": "CRYPTO" }),
                1 => {
                    let words = ["summ", "advisor", "echo agent", "translator"][(r / 48 % 4) as usize];
                    json!({ "search": words })
                }
                2 => json!({ "status": "ACTIVE" }),
                _ => json!({}),
            };
            json!({ "query": CATALOG, "operationName": "Catalog", "variables": { "s": sort, "f": filter } })
        }
        1 => {
            json!({ "query": AGENT, "operationName": "AgentDetail", "variables": { "id": (r / 3 % AGENTS + 1).to_string() } })
        }
        _ => {
            let h = format!("{:x}", r / 3 % REQUESTERS + 1);
            let requester = format!("0x{}{h}", "a".repeat(40 - h.len()));
            json!({ "query": MINE, "operationName": "MyExecutions", "variables": { "r": requester } })
        }
    }
}

/// What the generator reads of a response: whether `data` is an object and `errors` is absent.
/// Deserialising into this skips the response's content instead of building a JSON tree, so the
/// generator spends as little as possible of the CPU it shares with the server.
#[derive(serde::Deserialize)]
struct Outcome {
    data: Option<serde::de::IgnoredAny>,
    errors: Option<serde::de::IgnoredAny>,
}

/// A request body, serialised before the clock starts.
fn body(rng: &mut Rng) -> Vec<u8> {
    serde_json::to_vec(&request(rng)).unwrap_or_default()
}

/// One request; `true` when it came back 200 with data and without GraphQL errors.
async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>) -> bool {
    let sent = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await;
    match sent {
        Ok(resp) if resp.status() == 200 => match resp.bytes().await {
            Ok(bytes) => serde_json::from_slice::<Outcome>(&bytes)
                .map(|o| o.errors.is_none() && o.data.is_some())
                .unwrap_or(false),
            Err(_) => false,
        },
        _ => false,
    }
}

fn clients() -> Vec<reqwest::Client> {
    (0..CONNECTIONS)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client")
        })
        .collect()
}

/// CPU seconds used so far by this process (server and generator) and by the PostgreSQL cluster
/// (postmaster and its backends), from `/proc`. Printed per request for the unthrottled phase:
/// unlike latency, CPU per request does not depend on what else the machine is running, so it
/// shows whether a change made the server cheaper even on a busy machine.
fn cpu_seconds(pg: &Postgres) -> (f64, f64) {
    // USER_HZ: the unit of /proc/<pid>/stat times, 100 on every mainstream Linux build.
    const TICKS_PER_SECOND: f64 = 100.0;
    fn ticks(stat: &str) -> Option<(u64, u64)> {
        // Fields after the command name (which may contain spaces) start at "state".
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid = fields.get(1)?.parse().ok()?;
        let time = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((ppid, time))
    }
    let own = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| ticks(&s)).map_or(0, |t| t.1);
    let postmaster: Option<u64> = pg
        .log_path()
        .parent()
        .and_then(|dir| std::fs::read_to_string(dir.join("data/postmaster.pid")).ok())
        .and_then(|pid| pid.lines().next()?.trim().parse().ok());
    let mut cluster = 0;
    if let (Some(postmaster), Ok(procs)) = (postmaster, std::fs::read_dir("/proc")) {
        for entry in procs.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else { continue };
            let Some((ppid, time)) = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|s| ticks(&s))
            else {
                continue;
            };
            if pid == postmaster || ppid == postmaster {
                cluster += time;
            }
        }
    }
    (own as f64 / TICKS_PER_SECOND, cluster as f64 / TICKS_PER_SECOND)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pg = Postgres::start()?;
    let url = pg.create_database("bench")?;
    let mut config = nexus_graphql::Config::local(url.clone());
    config.rpc_url = None;
    config.development = false;
    let server = nexus_graphql::start(config, std::future::pending()).await?;
    let seeding = Instant::now();
    // Its own connection: the server's pool has a statement timeout sized for API queries.
    let seed_pool = sqlx::PgPool::connect(&url).await?;
    for sql in SEED {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&seed_pool).await?;
    }
    if std::env::var_os("BENCH_EXPLAIN").is_some() {
        for q in [
            "SELECT count(*) FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE AND a.category = 'Crypto'",
            "SELECT a.agent_id::text, a.name FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE ORDER BY s.executions DESC, s.agent_id DESC LIMIT 21 OFFSET 0",
            "SELECT a.agent_id::text, a.name FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE ORDER BY a.registered_block DESC, a.agent_id DESC LIMIT 21 OFFSET 0",
            "SELECT a.agent_id::text, a.name FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE AND a.search @@ to_tsquery('simple', 'summ:*') ORDER BY a.price ASC, a.agent_id ASC LIMIT 21 OFFSET 0",
            "SELECT count(*) FROM agents a JOIN agent_stats s ON s.agent_id = a.agent_id WHERE TRUE AND a.search @@ to_tsquery('simple', 'summ:*')",
            "SELECT agent_id::text, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM settled_at - requested_at)::float8) FROM executions WHERE agent_id = ANY(ARRAY['1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17','18','19','20']::text[]::numeric[]) AND status IN ('Succeeded', 'Failed') GROUP BY agent_id",
        ] {
            let plan: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN ANALYZE {q}"))).fetch_all(&seed_pool).await?;
            println!("---- {q}\n{}", plan.join("\n"));
        }
    }
    seed_pool.close().await;
    println!("seeded {AGENTS} agents and {EXECUTIONS} executions in {:.1} s", seeding.elapsed().as_secs_f64());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(nexus_graphql::serve(listener, server, std::future::pending()));

    // Warm up every connection and the database's caches.
    let clients = clients();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for client in &clients {
        for _ in 0..3 {
            send(client, &url, body(&mut rng)).await;
        }
    }

    // Sequential latency per query kind (diagnostics).
    const SEQUENTIAL: u32 = 200;
    for kind in 0..3u64 {
        let cpu = cpu_seconds(&pg);
        let t = Instant::now();
        let mut r = Rng::new(7 + kind);
        let mut n = 0;
        while n < SEQUENTIAL {
            let body = request(&mut r);
            let name = body["operationName"].as_str().unwrap_or_default().to_string();
            if ["Catalog", "AgentDetail", "MyExecutions"][kind as usize] != name {
                continue;
            }
            send(&clients[0], &url, serde_json::to_vec(&body)?).await;
            n += 1;
        }
        println!(
            "graphql.sequential_ms.{}={:.2}",
            ["catalog", "agent", "executions"][kind as usize],
            t.elapsed().as_secs_f64() * 1000.0 / f64::from(SEQUENTIAL)
        );
        let after = cpu_seconds(&pg);
        println!(
            "graphql.sequential_cpu_ms.{}={:.3}+{:.3}",
            ["catalog", "agent", "executions"][kind as usize],
            (after.0 - cpu.0) * 1000.0 / f64::from(SEQUENTIAL),
            (after.1 - cpu.1) * 1000.0 / f64::from(SEQUENTIAL)
        );
    }
    if std::env::var_os("BENCH_DIAGNOSE_ONLY").is_some() {
        if std::env::var_os("BENCH_HOLD").is_some() {
            println!("HOLD {url} {}", pg.url());
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        return Ok(());
    }

    // ---- open loop
    let total = RATE_PER_SECOND * OPEN_LOOP.as_secs();
    let bodies: Vec<Vec<u8>> = (0..total).map(|_| body(&mut rng)).collect();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(Duration, bool)>();
    for client in clients.clone() {
        let (rx, done, url) = (rx.clone(), done_tx.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let job = rx.lock().await.recv().await;
                let Some((scheduled, body)) = job else { return };
                let ok = send(&client, &url, body).await;
                let _ = done.send((scheduled.elapsed(), ok));
            }
        });
    }
    drop(done_tx);
    let start = Instant::now();
    let interval = Duration::from_secs(1) / RATE_PER_SECOND as u32;
    for (i, body) in bodies.into_iter().enumerate() {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let _ = tx.send((scheduled, body));
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    while let Some((latency, ok)) = done_rx.recv().await {
        latencies.push(latency);
        errors += u64::from(!ok);
    }
    let offered = total as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    println!("graphql.offered_rps={offered:.0}");
    println!("graphql.p50_ms={:.2}", percentile(&latencies, 0.50));
    println!("graphql.p95_ms={:.2}", percentile(&latencies, 0.95));
    println!("graphql.p99_ms={:.2}", percentile(&latencies, 0.99));
    println!("graphql.errors={errors}");

    // ---- unthrottled
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_seconds(&pg);
    let deadline = Instant::now() + UNTHROTTLED;
    let started = Instant::now();
    let mut workers = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (completed, failed, url) = (completed.clone(), failed.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x1234_5678 + i as u64);
            while Instant::now() < deadline {
                let ok = send(&client, &url, body(&mut rng)).await;
                completed.fetch_add(1, Ordering::Relaxed);
                failed.fetch_add(u64::from(!ok), Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let cpu_after = cpu_seconds(&pg);
    let done = completed.load(Ordering::Relaxed).max(1) as f64;
    let rps = done / started.elapsed().as_secs_f64();
    println!("graphql.cpu_ms_per_request.server_and_generator={:.3}", (cpu_after.0 - cpu_before.0) * 1000.0 / done);
    println!("graphql.cpu_ms_per_request.postgres={:.3}", (cpu_after.1 - cpu_before.1) * 1000.0 / done);
    println!("graphql.max_rps={rps:.0}");
    println!("graphql.max_rps_errors={}", failed.load(Ordering::Relaxed));
    Ok(())
}
