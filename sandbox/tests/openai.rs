//! OpenAI-compatible upstream: key check in OpenAI's error shape, the documented deterministic
//! answer, usage counts and the context-length error.

use nexus_sandbox::openai::estimate_tokens;
use nexus_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

async fn chat(sandbox: &Sandbox, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().post(format!("{}/v1/chat/completions", sandbox.openai.base_url)).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn config() -> SandboxConfig {
    SandboxConfig {
        openai_api_key: "sk-operator-1234".into(),
        openai_max_context_tokens: 200,
        ..SandboxConfig::default()
    }
}

fn body(text: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Translate to French."},
            {"role": "user", "content": "earlier turn"},
            {"role": "assistant", "content": "tour précédent"},
            {"role": "user", "content": text},
        ],
    })
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_in_openai_error_shape() {
    let sandbox = Sandbox::start(config()).await.unwrap();
    let (status, error) = chat(&sandbox, None, &body("hi")).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"));

    let (status, error) = chat(&sandbox, Some("sk-agent-guess-abcd"), &body("hi")).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert_eq!(error["error"]["param"], Value::Null);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("abcd."), "{message}");
    assert!(!message.contains("sk-operator"), "the configured key never leaks");
}

#[tokio::test]
async fn the_answer_is_the_last_user_message_uppercased_with_usage() {
    let sandbox = Sandbox::start(config()).await.unwrap();
    let (status, reply) = chat(&sandbox, Some("sk-operator-1234"), &body("Hello, wörld & co!")).await;
    assert_eq!(status, 200);
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], "gpt-4o-mini");
    assert!(reply["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &reply["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "HELLO, WöRLD & CO!");
    let usage = &reply["usage"];
    let texts = ["Translate to French.", "earlier turn", "tour précédent", "Hello, wörld & co!"];
    let prompt: u64 = texts.iter().map(|t| 4 + estimate_tokens(t)).sum::<u64>() + 3;
    assert_eq!(usage["prompt_tokens"], prompt);
    assert_eq!(usage["completion_tokens"], estimate_tokens("HELLO, WöRLD & CO!"));
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    // Same request, same answer (id included); another text, another id.
    let (_, again) = chat(&sandbox, Some("sk-operator-1234"), &body("Hello, wörld & co!")).await;
    assert_eq!(again, reply);
    let (_, other) = chat(&sandbox, Some("sk-operator-1234"), &body("other")).await;
    assert_ne!(other["id"], reply["id"]);
}

#[tokio::test]
async fn content_parts_and_max_tokens() {
    let sandbox = Sandbox::start(config()).await.unwrap();
    let request = json!({
        "model": "m",
        "max_tokens": 2,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "text", "text": "efghijkl"}]}],
    });
    let (status, reply) = chat(&sandbox, Some("sk-operator-1234"), &request).await;
    assert_eq!(status, 200);
    assert_eq!(reply["choices"][0]["message"]["content"], "ABCDEFGH");
    assert_eq!(reply["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_openai_errors() {
    let sandbox = Sandbox::start(config()).await.unwrap();
    let (status, error) = chat(&sandbox, Some("sk-operator-1234"), &body(&"word ".repeat(200))).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "context_length_exceeded");
    assert_eq!(error["error"]["param"], "messages");
    assert!(error["error"]["message"].as_str().unwrap().contains("maximum context length is 200 tokens"));

    let (status, error) = chat(&sandbox, Some("sk-operator-1234"), &json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "empty_array");
    let (status, error) =
        chat(&sandbox, Some("sk-operator-1234"), &json!({"messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("model"));
    let (status, error) = chat(&sandbox, Some("sk-operator-1234"), &json!({"model": 5})).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["type"], "invalid_request_error");
}
