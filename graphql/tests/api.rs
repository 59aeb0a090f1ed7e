//! Queries against a database the real indexer filled from real anvil activity: the catalog's
//! filters, sorts, search and stats; pagination edges; executions, purchases, entitlements and
//! balances by their filters; indexer status; metrics.

mod common;

use alloy::primitives::{Address, keccak256};
use nexus_bindings::AgentMarketplace;
use nexus_bindings::TestUSDC;
use nexus_bindings::agent::{Category, Status};
use nexus_bindings::registry::AgentRegistry;
use serde_json::{Value, json};

use common::{Env, agent_params, register, u};

const ETH: Address = Address::ZERO;

fn ids(conn: &Value) -> Vec<String> {
    conn["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].as_str().expect("id").to_string()).collect()
}

const AGENTS: &str = "query($f: AgentFilter, $s: AgentSort, $first: Int, $after: String, $last: Int, $before: String) {
  agents(filter: $f, sort: $s, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name price category status paymentToken developer tags
      stats { executions succeeded failed successRate revenue medianDurationSeconds } } }
  }
}";

#[tokio::test]
async fn catalog_executions_and_balances() {
    let env = Env::start(|_| {}).await;
    let devnet = env.devnet();
    let d = devnet.deployments.contracts.clone();
    let (dev_a, dev_b) = (devnet.signer(6).address(), devnet.signer(7).address());
    let (buyer3, buyer5) = (devnet.signer(3).address(), devnet.signer(5).address());

    // 1 Echo (ETH, General, dev A), 2 Summarizer (USDC, dev B), 3 Gas advisor (ETH, Crypto, dev A),
    // 4 CSV analyzer (ETH, dev B; paused later).
    let e16 = 10_000_000_000_000_000u64;
    register(
        devnet,
        agent_params(
            dev_a,
            ETH,
            e16,
            Category::General,
            r#"{"name":"Echo","description":"repeats its input","tags":["test","echo"]}"#,
        ),
    )
    .await;
    register(
        devnet,
        agent_params(
            dev_b,
            d.usdc,
            1_000_000,
            Category::General,
            r#"{"name":"Summarizer","description":"summarises long text","tags":["text"]}"#,
        ),
    )
    .await;
    register(
        devnet,
        agent_params(
            dev_a,
            ETH,
            e16 / 2,
            Category::Crypto,
            r#"{"name":"Gas advisor","description":"when to send","tags":["gas","crypto"]}"#,
        ),
    )
    .await;
    register(
        devnet,
        agent_params(
            dev_b,
            ETH,
            2 * e16,
            Category::General,
            r#"{"name":"CSV analyzer","description":"columns and stats","tags":["data"]}"#,
        ),
    )
    .await;
    let curator = AgentRegistry::new(d.agent_registry, devnet.dev_provider(0));
    send!(curator.setStatus(u(4), Status::Paused.into()));

    // Buyer 3: three Echo credits, three requests (one succeeds, one fails, one stays open).
    // Buyer 5: two Gas advisor credits, one request that succeeds.
    let m3 = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(3));
    let m5 = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(5));
    send!(m3.purchase(u(1), u(3), u(e16)).value(u(3 * e16)));
    send!(m5.purchase(u(3), u(2), u(e16 / 2)).value(u(e16)));
    let echo_credit = nexus_bindings::credit_id::encode(u(1), u(e16));
    let gas_credit = nexus_bindings::credit_id::encode(u(3), u(e16 / 2));
    let mut requests = Vec::new();
    for (m, credit) in [(&m3, echo_credit), (&m3, echo_credit), (&m3, echo_credit), (&m5, gas_credit)] {
        let receipt = send!(m.requestExecution(credit, keccak256(b"input")));
        requests.push(receipt.decoded_log::<AgentMarketplace::ExecutionRequested>().expect("requested").data);
    }
    let relayer = AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(1));
    send!(relayer.settle(requests[0].requestId, requests[0].execution(), true, keccak256(b"out")));
    send!(relayer.settle(requests[1].requestId, requests[1].execution(), false, Default::default()));
    send!(relayer.settle(requests[3].requestId, requests[3].execution(), true, keccak256(b"out")));
    // Buyer 4 holds USDC credits for the Summarizer but never uses them.
    let usdc4 = TestUSDC::new(d.usdc, devnet.dev_provider(4));
    send!(usdc4.mint(devnet.signer(4).address(), u(2_000_000)));
    send!(usdc4.approve(d.agent_marketplace, u(2_000_000)));
    send!(AgentMarketplace::new(d.agent_marketplace, devnet.dev_provider(4)).purchase(u(2), u(2), u(1_000_000)));
    env.indexed().await;

    let agents = |vars: Value| {
        let env = &env;
        async move { env.data(AGENTS, vars).await["agents"].clone() }
    };

    // ---- sorts
    let all = agents(json!({})).await;
    assert_eq!(all["totalCount"], 4);
    assert_eq!(ids(&all), ["4", "3", "2", "1"], "newest first by default");
    assert_eq!(ids(&agents(json!({"s": "OLDEST"})).await), ["1", "2", "3", "4"]);
    assert_eq!(ids(&agents(json!({"s": "PRICE_ASC"})).await), ["2", "3", "1", "4"]);
    assert_eq!(ids(&agents(json!({"s": "PRICE_DESC"})).await), ["4", "1", "3", "2"]);
    assert_eq!(ids(&agents(json!({"s": "EXECUTIONS"})).await), ["1", "3", "4", "2"]);
    assert_eq!(ids(&agents(json!({"s": "SUCCESS_RATE"})).await), ["3", "1", "4", "2"], "nothing settled sorts last");

    // ---- filters
    assert_eq!(ids(&agents(json!({"f": {"category": "CRYPTO"}})).await), ["3"]);
    assert_eq!(ids(&agents(json!({"f": {"status": "PAUSED"}})).await), ["4"]);
    assert_eq!(ids(&agents(json!({"f": {"status": "ACTIVE"}})).await), ["3", "2", "1"]);
    assert_eq!(ids(&agents(json!({"f": {"paymentToken": d.usdc.to_string()}})).await), ["2"]);
    assert_eq!(ids(&agents(json!({"f": {"paymentToken": ETH.to_string()}})).await), ["4", "3", "1"]);
    assert_eq!(ids(&agents(json!({"f": {"developer": dev_a.to_string().to_lowercase()}})).await), ["3", "1"]);
    let range = json!({"f": {"minPrice": e16.to_string(), "maxPrice": (2 * e16).to_string()}});
    assert_eq!(ids(&agents(range).await), ["4", "1"]);
    let combined = json!({"f": {"developer": dev_b.to_string(), "status": "ACTIVE", "category": "GENERAL"}});
    assert_eq!(ids(&agents(combined).await), ["2"]);
    let bad = env.gql(AGENTS, json!({"f": {"minPrice": "10", "maxPrice": "1"}}), None).await;
    assert!(bad["errors"][0]["message"].as_str().unwrap_or("").contains("minPrice"), "{bad}");
    let bad = env.gql(AGENTS, json!({"f": {"developer": "0x1234"}}), None).await;
    assert!(bad["errors"][0]["message"].as_str().unwrap_or("").contains("address"), "{bad}");

    // ---- search (prefixes, several words, tags, relevance, nothing)
    assert_eq!(ids(&agents(json!({"f": {"search": "summ"}})).await), ["2"]);
    assert_eq!(ids(&agents(json!({"f": {"search": "advisor GAS"}})).await), ["3"]);
    assert_eq!(ids(&agents(json!({"f": {"search": "crypto"}})).await), ["3"], "tags are searched");
    assert_eq!(ids(&agents(json!({"f": {"search": "columns"}, "s": "RELEVANCE"})).await), ["4"]);
    assert_eq!(agents(json!({"f": {"search": "nothing-like-this"}})).await["totalCount"], 0);
    assert_eq!(ids(&agents(json!({"f": {"search": "' & | ! ( )"}})).await).len(), 4, "operators are not syntax");

    // ---- stats
    let echo = &all["edges"][3]["node"];
    assert_eq!(echo["name"], "Echo");
    assert_eq!(echo["tags"], json!(["test", "echo"]));
    let stats = &echo["stats"];
    assert_eq!(
        (stats["executions"].as_i64(), stats["succeeded"].as_i64(), stats["failed"].as_i64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(stats["successRate"], 0.5);
    let fee = e16 * 250 / 10_000;
    assert_eq!(stats["revenue"], (e16 - fee).to_string());
    assert!(stats["medianDurationSeconds"].as_f64().is_some(), "{stats}");
    assert_eq!(all["edges"][2]["node"]["stats"]["successRate"], Value::Null, "summarizer: nothing settled");

    // ---- pagination edges
    let p1 = agents(json!({"first": 2})).await;
    assert_eq!(ids(&p1), ["4", "3"]);
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["pageInfo"]["hasPreviousPage"], false);
    let p2 = agents(json!({"first": 2, "after": p1["pageInfo"]["endCursor"]})).await;
    assert_eq!(ids(&p2), ["2", "1"]);
    assert_eq!(p2["pageInfo"]["hasNextPage"], false);
    assert_eq!(p2["pageInfo"]["hasPreviousPage"], true);
    let p3 = agents(json!({"first": 2, "after": p2["pageInfo"]["endCursor"]})).await;
    assert_eq!(ids(&p3).len(), 0, "past the end: empty page");
    assert_eq!(p3["pageInfo"]["hasNextPage"], false);
    assert_eq!(ids(&agents(json!({"first": 0})).await).len(), 0);
    assert_eq!(ids(&agents(json!({"first": 100})).await).len(), 4);
    let tail = agents(json!({"last": 1})).await;
    assert_eq!(ids(&tail), ["1"]);
    assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(tail["pageInfo"]["hasNextPage"], false);
    let third = &all["edges"][2]["cursor"];
    let before = agents(json!({"last": 5, "before": third})).await;
    assert_eq!(ids(&before), ["4", "3"]);
    assert_eq!(before["pageInfo"]["hasNextPage"], true);
    let between =
        agents(json!({"first": 10, "after": all["edges"][0]["cursor"], "before": all["edges"][3]["cursor"]})).await;
    assert_eq!(ids(&between), ["3", "2"]);
    for (vars, needle) in [
        (json!({"first": 101}), "at most 100"),
        (json!({"last": 1000}), "at most 100"),
        (json!({"first": -1}), "negative"),
        (json!({"first": 1, "last": 1}), "not both"),
        (json!({"after": "not-a-cursor"}), "not a valid cursor"),
        // Crafted: base64url of "o:18446744073709551615" (u64::MAX, which `after` would overflow).
        (json!({"after": "bzoxODQ0Njc0NDA3MzcwOTU1MTYxNQ"}), "not a valid cursor"),
        (json!({"before": "bzoxODQ0Njc0NDA3MzcwOTU1MTYxNQ"}), "not a valid cursor"),
    ] {
        let body = env.gql(AGENTS, vars.clone(), None).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{vars}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    }

    // ---- agent by id, with schemas and metadata
    let one = env.data("{ agent(id: \"3\") { id name description category metadataStatus inputSchema } none: agent(id: 99) { id } }", json!({})).await;
    assert_eq!(one["agent"]["name"], "Gas advisor");
    assert_eq!(one["agent"]["category"], "CRYPTO");
    assert_eq!(one["agent"]["metadataStatus"], "OK");
    assert_eq!(one["none"], Value::Null);

    // ---- executions
    const EXECUTIONS: &str = "query($f: ExecutionFilter, $o: Order) { executions(filter: $f, order: $o) {
        totalCount edges { node { id status success requester agentId agent { name } inputHash outputHash
        requestedTx settledTx deadline requestedAt settledAt durationSeconds payout fee } } } }";
    let ex = |vars: Value| {
        let env = &env;
        async move { env.data(EXECUTIONS, vars).await["executions"].clone() }
    };
    assert_eq!(ids(&ex(json!({})).await), ["4", "3", "2", "1"]);
    assert_eq!(ids(&ex(json!({"o": "OLDEST"})).await), ["1", "2", "3", "4"]);
    assert_eq!(ids(&ex(json!({"f": {"requester": buyer3.to_string()}})).await), ["3", "2", "1"]);
    assert_eq!(ids(&ex(json!({"f": {"status": "SUCCEEDED"}})).await), ["4", "1"]);
    assert_eq!(ids(&ex(json!({"f": {"status": "REQUESTED"}})).await), ["3"]);
    assert_eq!(ids(&ex(json!({"f": {"agentId": "3"}})).await), ["4"]);
    assert_eq!(ids(&ex(json!({"f": {"developer": dev_a.to_string()}})).await).len(), 4);
    assert_eq!(ids(&ex(json!({"f": {"developer": dev_b.to_string()}})).await).len(), 0);
    let first = ex(json!({"o": "OLDEST"})).await["edges"][0]["node"].clone();
    assert_eq!(first["status"], "SUCCEEDED");
    assert_eq!(first["success"], true);
    assert_eq!(first["agent"]["name"], "Echo");
    assert_eq!(first["inputHash"], keccak256(b"input").to_string());
    assert_eq!(first["outputHash"], keccak256(b"out").to_string());
    assert_eq!(first["payout"], (e16 - fee).to_string());
    assert_eq!(first["fee"], fee.to_string());
    assert!(first["settledTx"].as_str().is_some_and(|h| h.len() == 66), "{first}");
    assert!(first["deadline"].as_str().is_some_and(|t| t.ends_with('Z')), "{first}");
    let open = env.data("{ execution(id: \"3\") { status success settledAt settledTx payee } }", json!({})).await;
    assert_eq!(
        open["execution"],
        json!({"status": "REQUESTED", "success": null, "settledAt": null, "settledTx": null, "payee": null})
    );

    // ---- purchases, entitlements, balances
    let purchases = env
        .data("query($f: PurchaseFilter) { purchases(filter: $f) { totalCount edges { node { id buyer units amount agent { name } } } } }",
            json!({"f": {"buyer": buyer3.to_string()}}))
        .await;
    let p = &purchases["purchases"];
    assert_eq!(p["totalCount"], 1);
    assert_eq!(p["edges"][0]["node"]["units"], "3");
    assert_eq!(p["edges"][0]["node"]["amount"], (3 * e16).to_string());
    assert_eq!(p["edges"][0]["node"]["agent"]["name"], "Echo");
    let id = p["edges"][0]["node"]["id"].clone();
    let by_id = env.data("query($id: String!) { purchase(id: $id) { buyer } }", json!({"id": id})).await;
    assert_eq!(by_id["purchase"]["buyer"], buyer3.to_checksum(None));
    let dev_b_sales = env
        .data(
            "query($f: PurchaseFilter) { purchases(filter: $f) { totalCount } }",
            json!({"f": {"developer": dev_b.to_string()}}),
        )
        .await;
    assert_eq!(dev_b_sales["purchases"]["totalCount"], 1, "buyer 4's summarizer credits");

    const ENT: &str = "query($f: EntitlementFilter) { entitlements(filter: $f) { totalCount edges { node { holder agentId balance unitPrice } } } }";
    assert_eq!(
        env.data(ENT, json!({"f": {"holder": buyer3.to_string()}})).await["entitlements"]["totalCount"],
        0,
        "all used"
    );
    assert_eq!(
        env.data(ENT, json!({"f": {"holder": buyer3.to_string(), "includeEmpty": true}})).await["entitlements"]["totalCount"],
        1
    );
    let b5 = env.data(ENT, json!({"f": {"holder": buyer5.to_string()}})).await;
    assert_eq!(b5["entitlements"]["edges"][0]["node"]["balance"], "1");
    let credit = env
        .data(
            "query($h: Address!, $c: BigInt!) { entitlement(holder: $h, creditId: $c) { balance agent { name } } }",
            json!({"h": buyer5.to_string(), "c": gas_credit.to_string()}),
        )
        .await;
    assert_eq!(credit["entitlement"]["balance"], "1");

    let bal = env.data("query($a: Address!) { withdrawableBalance(token: \"0x0000000000000000000000000000000000000000\", account: $a) { withdrawable credited withdrawn } }",
        json!({"a": dev_a.to_string()})).await;
    let gas_fee = (e16 / 2) * 250 / 10_000;
    assert_eq!(bal["withdrawableBalance"]["withdrawable"], (e16 - fee + e16 / 2 - gas_fee).to_string());
    let refunds = env.data("query($a: Address!) { withdrawableBalances(filter: {account: $a}) { totalCount edges { node { token withdrawable } } } }",
        json!({"a": buyer3.to_string()})).await;
    assert_eq!(
        refunds["withdrawableBalances"]["edges"][0]["node"]["withdrawable"],
        e16.to_string(),
        "failed execution refunded"
    );

    // ---- indexer status
    let status = env.data("{ indexerStatus { head indexedBlock lag indexedBlockHash updatedAt } }", json!({})).await;
    let s = &status["indexerStatus"];
    assert_eq!(s["head"], s["indexedBlock"], "{s}");
    assert_eq!(s["lag"], 0);

    // ---- cached catalog counts follow the catalog: a registration and a pause change them
    const ACTIVE: &str = "query { agents(filter: {status: ACTIVE}) { totalCount } }";
    let active = || async { env.data(ACTIVE, json!({})).await["agents"]["totalCount"].as_i64() };
    assert_eq!(active().await, Some(3));
    assert_eq!(active().await, Some(3), "served from the cache");
    let eventually = |want: i64, what: &'static str| {
        let active = &active;
        async move {
            // The server learns of the commit by NOTIFY, a few ms after the cursor moves.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while active().await != Some(want) {
                assert!(tokio::time::Instant::now() < deadline, "count stayed stale after {what}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    register(devnet, agent_params(dev_a, ETH, e16, Category::General, r#"{"name":"Fifth"}"#)).await;
    env.indexed().await;
    eventually(4, "a registration").await;
    // A fresh provider: `register` sent from the same account, so `curator`'s nonce is stale.
    let curator = AgentRegistry::new(d.agent_registry, devnet.dev_provider(0));
    send!(curator.setStatus(u(5), Status::Paused.into()));
    env.indexed().await;
    eventually(3, "a pause").await;

    // ---- metrics by operation name
    let _ = env
        .http
        .post(env.url("/graphql"))
        .json(&json!({"query": "query CatalogPage { agents { totalCount } }", "operationName": "CatalogPage"}))
        .send()
        .await
        .expect("post");
    let metrics = env.http.get(env.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("nexus_graphql_request_duration_seconds_count{operation=\"CatalogPage\"} 1"), "{metrics}");
    assert!(
        metrics.contains("nexus_graphql_request_duration_seconds_bucket{operation=\"anonymous\",le=\"+Inf\"}"),
        "{metrics}"
    );
}
