//! The agent-test harness: real hosts in the agent's policy, routed to the sandbox through the
//! real egress proxy, with the chat key injected by the proxy.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use nexus_egress::Outcome;
use nexus_sandbox::harness::AgentNet;
use serde_json::json;

fn metadata(with_secret: bool) -> serde_json::Value {
    let mut network = json!({
        "rules": [
            { "scheme": "https", "host": "api.open-meteo.com", "methods": ["GET"], "pathPrefixes": ["/v1/forecast"] },
            { "scheme": "https", "host": "api.openai.com", "methods": ["POST"], "pathPrefixes": ["/v1/chat/completions"] }
        ]
    });
    if with_secret {
        network["secrets"] =
            json!([{ "name": "openai", "host": "api.openai.com", "pathPrefix": "/v1/", "header": "authorization" }]);
    }
    json!({ "name": "test", "network": network })
}

/// What an agent writes: an absolute-form request, read to the end.
fn send(net: &AgentNet, raw: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(net.socket()).expect("connect");
    stream.write_all(raw.as_bytes()).expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    let status = reply[9..12].parse().expect("status");
    (status, reply)
}

#[test]
fn agents_reach_the_sandbox_under_the_real_host_names() {
    let net = AgentNet::start(&metadata(true)).expect("harness");
    let (status, reply) = send(
        &net,
        "GET https://api.open-meteo.com/v1/forecast?latitude=52.52&longitude=13.41&hourly=temperature_2m HTTP/1.1\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("\"hourly\""), "{reply}");

    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let chat = format!(
        "POST https://api.openai.com/v1/chat/completions HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, reply) = send(&net, &chat);
    assert_eq!(status, 200, "the proxy injected the operator's key: {reply}");
    // A host outside the policy is refused by the proxy, not routed anywhere.
    let (status, reply) = send(&net, "GET https://example.com/ HTTP/1.1\r\n\r\n");
    assert_eq!(status, 403, "{reply}");

    let records = net.records_at_least(3);
    let hosts: Vec<_> = records.iter().map(|r| (r.host.as_str(), r.outcome.clone())).collect();
    assert_eq!(hosts[0], ("api.open-meteo.com", Outcome::Status(200)));
    assert_eq!(hosts[1], ("api.openai.com", Outcome::Status(200)));
    assert!(matches!(hosts[2], ("example.com", Outcome::Refused(_))), "{hosts:?}");
}

#[test]
fn without_a_declared_secret_the_chat_upstream_sees_no_key() {
    let net = AgentNet::start(&metadata(false)).expect("harness");
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let chat = format!(
        "POST https://api.openai.com/v1/chat/completions HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, reply) = send(&net, &chat);
    assert_eq!(status, 401, "{reply}");
}
