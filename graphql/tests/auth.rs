//! Private results: Sign-In with Ethereum (good, wrong signer, expired, reused nonce, wrong
//! domain, smart account through EIP-1271 on-chain) and the rule that only an execution's
//! requester reads its output and logs, over GraphQL and `GET /v1/executions/{id}/output`.

mod common;

use alloy::primitives::{U256, eip191_hash_message};
use alloy::signers::SignerSync;
use nexus_bindings::account::NexusAccount;
use nexus_bindings::account_factory::NexusAccountFactory;
use serde_json::json;

use common::{DOMAIN, Env, agent_with_credits, rfc3339, settled_execution, siwe_message};

fn sig_hex(sig: &alloy::primitives::Signature) -> String {
    format!("0x{}", alloy::hex::encode(sig.as_bytes()))
}

fn error(body: &serde_json::Value) -> String {
    body["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn sign_in_and_private_outputs() {
    let env = Env::start(|_| {}).await;
    let devnet = env.devnet();
    let d = devnet.deployments.contracts.clone();
    let (requester, stranger) = (devnet.signer(3), devnet.signer(4));

    // One execution by account 3, settled with an output the relayer stored as a blob.
    let credit = agent_with_credits(devnet, 3, 1_000_000_000_000_000, 1).await;
    let output = br#"{"echo":"secret result"}"#;
    settled_execution(&env, 3, credit, br#"{"text":"hi"}"#, output).await;
    sqlx::query("INSERT INTO execution_logs (request_id, seq, line) VALUES (1, 1, 'starting'), (1, 2, 'done')")
        .execute(&env.pool)
        .await
        .expect("relayer's log lines");
    env.indexed().await;

    // ---- sign-in
    let token = env.sign_in(&requester).await;
    let other = env.sign_in(&stranger).await;

    let nonce = env.nonce().await;
    let message = siwe_message(DOMAIN, requester.address(), &nonce, 31337, None);
    let wrong = stranger.sign_message_sync(message.as_bytes()).expect("sign");
    let body = env.sign_in_with(&message, &sig_hex(&wrong)).await;
    assert!(error(&body).contains("signature does not match"), "wrong signer: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // The failed attempt did not burn the nonce: the right signature still works, once.
    let right = sig_hex(&requester.sign_message_sync(message.as_bytes()).expect("sign"));
    let body = env.sign_in_with(&message, &right).await;
    assert!(body["data"]["signIn"]["token"].is_string(), "{body}");
    let body = env.sign_in_with(&message, &right).await;
    assert!(error(&body).contains("nonce was already used"), "reused nonce: {body}");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let nonce = env.nonce().await;
    let expired = siwe_message(DOMAIN, requester.address(), &nonce, 31337, Some(&rfc3339(now - 5)));
    let body =
        env.sign_in_with(&expired, &sig_hex(&requester.sign_message_sync(expired.as_bytes()).expect("sign"))).await;
    assert!(error(&body).contains("expired"), "expired: {body}");

    let elsewhere = siwe_message("evil.example", requester.address(), &nonce, 31337, None);
    let body =
        env.sign_in_with(&elsewhere, &sig_hex(&requester.sign_message_sync(elsewhere.as_bytes()).expect("sign"))).await;
    assert!(error(&body).contains("domain"), "wrong domain: {body}");
    let other_chain = siwe_message(DOMAIN, requester.address(), &nonce, 1, None);
    let body = env
        .sign_in_with(&other_chain, &sig_hex(&requester.sign_message_sync(other_chain.as_bytes()).expect("sign")))
        .await;
    assert!(error(&body).contains("chain"), "wrong chain: {body}");
    let unknown = siwe_message(DOMAIN, requester.address(), "neverissued123", 31337, None);
    let body =
        env.sign_in_with(&unknown, &sig_hex(&requester.sign_message_sync(unknown.as_bytes()).expect("sign"))).await;
    assert!(error(&body).contains("nonce unknown"), "unknown nonce: {body}");
    let body = env.sign_in_with("hello", "0x00").await;
    assert!(error(&body).contains("EIP-4361"), "garbage: {body}");

    // ---- output and logs: requester only
    const Q: &str = "{ execution(id: \"1\") { status outputHash output logs { seq line stream } } }";
    let mine = env.gql(Q, json!({}), Some(&token)).await;
    assert_eq!(mine["data"]["execution"]["output"], String::from_utf8_lossy(output).as_ref(), "{mine}");
    assert_eq!(
        mine["data"]["execution"]["logs"],
        json!([{"seq": 1, "line": "starting", "stream": "stderr"}, {"seq": 2, "line": "done", "stream": "stderr"}])
    );
    // Paging within an attempt; a later attempt's lines are apart.
    sqlx::query("INSERT INTO execution_logs (request_id, attempt, seq, line) VALUES (1, 2, 0, 'again')")
        .execute(&env.pool)
        .await
        .expect("log line");
    let page = env
        .gql("{ execution(id: \"1\") { logs(attempt: 1, afterSeq: 1) { seq line } } }", json!({}), Some(&token))
        .await;
    assert_eq!(page["data"]["execution"]["logs"], json!([{"seq": 2, "line": "done"}]), "{page}");
    let all = env.gql("{ execution(id: \"1\") { logs { attempt seq } } }", json!({}), Some(&token)).await;
    assert_eq!(
        all["data"]["execution"]["logs"],
        json!([{"attempt": 1, "seq": 1}, {"attempt": 1, "seq": 2}, {"attempt": 2, "seq": 0}])
    );
    let theirs = env.gql(Q, json!({}), Some(&other)).await;
    assert_eq!(theirs["data"]["execution"]["status"], "SUCCEEDED", "public fields stay readable: {theirs}");
    assert_eq!(theirs["data"]["execution"]["output"], serde_json::Value::Null);
    let codes: Vec<&str> =
        theirs["errors"].as_array().expect("errors").iter().filter_map(|e| e["extensions"]["code"].as_str()).collect();
    assert_eq!(codes, ["FORBIDDEN", "FORBIDDEN"], "{theirs}");
    let anonymous = env.gql(Q, json!({}), None).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{anonymous}");
    let forged = env
        .http
        .post(env.url("/graphql"))
        .bearer_auth(format!("{token}x"))
        .json(&json!({"query": Q}))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);

    let get = |t: Option<String>| {
        let mut r = env.http.get(env.url("/v1/executions/1/output"));
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let ok = get(Some(token.clone())).await.expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.expect("bytes").as_ref(), output);
    assert_eq!(get(Some(other.clone())).await.expect("get").status(), 403);
    assert_eq!(get(None).await.expect("get").status(), 401);
    let missing = env.http.get(env.url("/v1/executions/999/output")).bearer_auth(&token).send().await.expect("get");
    assert_eq!(missing.status(), 404);

    // ---- a smart account (EIP-1271): NexusAccount owned by account 7, deployed by the devnet's
    // factory through the EntryPoint (the factory only deploys for its SenderCreator).
    let owner = devnet.signer(7);
    let provider = devnet.dev_provider(7);
    let account = nexus_testkit::bundler::deploy_account(devnet, &owner, U256::ZERO, 7).await.expect("deploy account");
    let factory = NexusAccountFactory::new(d.nexus_account_factory.expect("factory"), &provider);
    assert_eq!(factory.getAddress(owner.address(), U256::ZERO).call().await.expect("address"), account);
    let wallet = NexusAccount::new(account, &provider);

    let nonce = env.nonce().await;
    let message = siwe_message(DOMAIN, account, &nonce, 31337, None);
    let safe = wallet.replaySafeHash(eip191_hash_message(&message)).call().await.expect("replaySafeHash");
    // A stranger's signature over the same hash is refused by the account itself.
    let forged = stranger.sign_hash_sync(&safe).expect("sign");
    let body = env.sign_in_with(&message, &sig_hex(&forged)).await;
    assert!(error(&body).contains("signature does not match"), "smart account, wrong signer: {body}");
    let good = owner.sign_hash_sync(&safe).expect("sign");
    let body = env.sign_in_with(&message, &sig_hex(&good)).await;
    assert_eq!(body["data"]["signIn"]["address"], account.to_checksum(None), "smart account sign-in: {body}");
    // The owner's plain EOA signature of the message is not the account's signature.
    let nonce = env.nonce().await;
    let message = siwe_message(DOMAIN, account, &nonce, 31337, None);
    let eoa = owner.sign_message_sync(message.as_bytes()).expect("sign");
    let body = env.sign_in_with(&message, &sig_hex(&eoa)).await;
    assert!(error(&body).contains("signature does not match"), "EOA signature for a contract account: {body}");
}
