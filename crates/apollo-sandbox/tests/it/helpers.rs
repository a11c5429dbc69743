//! `TestSandbox`: a sandbox on port 0 with a manual clock, and a method per kind of call.

use std::net::SocketAddr;

use apollo_sandbox::{Clock, Sandbox, SandboxConfig};
use reqwest::header::HeaderMap;
use serde_json::Value;
use time::macros::datetime;

pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub client: reqwest::Client,
    pub clock: Clock,
}

/// An answer, read fully.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestSandbox {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut SandboxConfig)) -> Self {
        // 30 s into a minute, so a test that advances a few seconds stays in the window.
        let clock = Clock::manual(datetime!(2025-03-10 12:00:30 UTC));
        let mut config = SandboxConfig::new(42);
        config.clock = clock.clone();
        config.webhook_delay = std::time::Duration::from_millis(10);
        adjust(&mut config);
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let sandbox = Sandbox::spawn(config, addr).await.expect("sandbox starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            sandbox,
            client,
            clock,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    pub fn master(&self) -> String {
        self.sandbox.master_key().to_owned()
    }

    pub fn scoped(&self) -> String {
        self.sandbox.scoped_key().to_owned()
    }

    /// Any call: method, path (with query), key for `x-api-key`, optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        let key = self.master();
        self.call("POST", path, Some(&key), Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        let key = self.master();
        self.call("GET", path, Some(&key), None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        let key = self.master();
        self.call("PATCH", path, Some(&key), Some(body)).await
    }

    pub async fn scoped_post(&self, path: &str, body: Value) -> Answer {
        let key = self.scoped();
        self.call("POST", path, Some(&key), Some(body)).await
    }

    /// A raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let response = self
            .client
            .post(self.url(path))
            .header("x-api-key", self.master())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// Everything the sandbox saw, as (method, path, status).
    pub fn seen(&self) -> Vec<(String, String, u16)> {
        self.sandbox
            .journal()
            .into_iter()
            .map(|e| (e.method, e.path, e.status))
            .collect()
    }

    /// A person from the database, found by searching (id, first name, organization name).
    pub async fn some_person(&self) -> Value {
        let answer = self
            .post(
                "/api/v1/mixed_people/api_search",
                serde_json::json!({"per_page": 1}),
            )
            .await;
        answer.json()["people"][0].clone()
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body read");
    Answer {
        status,
        headers,
        text,
    }
}
