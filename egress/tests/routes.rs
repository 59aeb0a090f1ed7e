//! Operator routes: the policy and the keys follow the agent's URL (the real service), only the
//! connection goes to the routed stand-in, and a route never opens what the policy or the
//! address filter refuses.

mod support;

use nexus_egress::{Outcome, Refusal, Routes};
use serde_json::json;
use support::{Behaviour, Harness, SECRET, Upstream};

fn network() -> serde_json::Value {
    json!({
        "rules": [
            { "scheme": "https", "host": "api.real.test", "methods": ["GET"], "pathPrefixes": ["/v1/"] },
            { "scheme": "https", "host": "blocked.real.test", "methods": ["GET"], "pathPrefixes": ["/"] }
        ],
        "secrets": [{ "name": "api-key", "host": "api.real.test", "pathPrefix": "/v1/", "header": "Authorization" }]
    })
}

#[tokio::test]
async fn a_routed_origin_reaches_its_stand_in_with_the_key_and_the_agents_host_in_the_record() {
    let stand_in = Upstream::start(Behaviour::Echo).await;
    let to = format!("http://127.0.0.1:{}", stand_in.port);
    let routes = Routes::parse([
        ("https://api.real.test", to.as_str()),
        // Routed to a loopback address the operator did not allow: still refused.
        ("https://blocked.real.test", "http://127.0.0.2:9"),
        // Routed, but not in the policy: a route opens nothing.
        ("https://unlisted.real.test", to.as_str()),
    ])
    .expect("routes");
    let mut h = Harness::start_routed(network(), routes).await;

    let reply = h.send("GET https://api.real.test/v1/markets?x=1 HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = stand_in.seen().remove(0).to_ascii_lowercase();
    assert!(seen.starts_with("get /v1/markets?x=1 http/1.1\r\n"), "{seen}");
    assert!(seen.contains(&format!("host: 127.0.0.1:{}\r\n", stand_in.port)), "{seen}");
    assert!(seen.contains(&format!("authorization: bearer {}", SECRET.to_ascii_lowercase())), "{seen}");
    let record = h.record().await;
    assert_eq!((record.host.as_str(), record.path.as_str()), ("api.real.test", "/v1/markets"));
    assert_eq!(record.outcome, Outcome::Status(200));

    // The policy is still the agent's: a path outside its prefixes is refused before routing.
    assert_eq!(h.send("GET https://api.real.test/admin HTTP/1.1\r\n\r\n").await.status, 403);
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::PathNotAllowed { .. })));
    // So is the address filter.
    let reply = h.send("GET https://blocked.real.test/ HTTP/1.1\r\n\r\n").await;
    assert!(reply.refused_by_proxy() && reply.status == 403, "{}", reply.text());
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::BlockedAddress { .. })));
    assert_eq!(h.send("GET https://unlisted.real.test/v1/x HTTP/1.1\r\n\r\n").await.status, 403);
    assert!(matches!(h.record().await.outcome, Outcome::Refused(Refusal::HostNotAllowed(_))));
    assert_eq!(stand_in.seen().len(), 1, "only the allowed request reached the stand-in");
}
