//! Clients: Client ID Metadata Documents fetched only from public addresses, and Dynamic
//! Client Registration's checks of redirect URIs.

use super::*;

/// Serves one metadata document on loopback.
async fn serve_document(doc: impl Fn(String) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/client.json");
    let body = doc(url.clone());
    let router = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn metadata_documents_are_fetched_only_from_public_addresses() {
    // Without the test switch: never plain http, never a private address.
    let t = spawn(None, false).await;
    let doc = serve_document(
        |url| json!({"client_id": url, "client_name": "Doc", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let r = t.authorize(&doc, REDIRECT).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("must use https"));
    for private in [
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:9/client.json",
        "https://localhost/client.json",
    ] {
        let r = t.authorize(private, REDIRECT).await;
        assert_eq!(r.status(), 400, "{private}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("private or internal address"),
            "{private}: {text}"
        );
    }
    t.stop().await;

    // With it (tests only), a document on loopback is read and its client signs in.
    let t = spawn(None, true).await;
    let r = t.authorize(&doc, REDIRECT).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let stored = t.store.oauth().client(&doc).await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.source.as_str()),
        ("Doc", "metadata")
    );
    // A document that names another client id is refused.
    let liar = serve_document(
        |_| json!({"client_id": "https://claude.ai/x.json", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let r = t.authorize(&liar, REDIRECT).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("does not name its own URL")
    );
    t.stop().await;
}

#[tokio::test]
async fn registration_refuses_bad_redirect_uris() {
    let t = spawn(None, false).await;
    for (body, code) in [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://x.example/cb#f"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://x.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
    ] {
        let r = client()
            .post(t.url("/oauth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "{body}");
    }
    let big = "x".repeat(20_000);
    let r = client()
        .post(t.url("/oauth/register"))
        .json(&json!({"redirect_uris": ["https://x.example/cb"], "client_name": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "a registration over 16 KiB is refused");

    // Anyone may register, but not without end: 500 an hour, then 429 until the hour moves.
    for _ in 0..500 {
        t.register(REDIRECT).await;
    }
    let flood = || {
        t.http
            .post(t.url("/oauth/register"))
            .json(&json!({"redirect_uris": [REDIRECT]}))
            .send()
    };
    let r = flood().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    t.clock.advance(time::Duration::minutes(61));
    assert_eq!(flood().await.unwrap().status(), 201);
    t.stop().await;
}
