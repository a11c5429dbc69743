//! Tasks: create and search.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn create_task_with_the_required_fields() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let answer = s
        .post(
            "/api/v1/tasks",
            json!({"user_id": f.user_ids[0], "contact_id": f.contact_ids[0], "type": "call", "status": "scheduled",
                   "due_at": "2025-03-12T09:00:00Z", "priority": "high", "title": "Call back", "note": "ask about Q3"}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let task = answer.json()["task"].clone();
    assert_eq!(task["type"], "call");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["due_at"], "2025-03-12T09:00:00.000Z");
    assert_eq!(task["contact_id"], f.contact_ids[0].as_str());
}

#[tokio::test]
async fn create_task_without_type_or_user_is_422() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post("/api/v1/tasks", json!({"status": "scheduled"}))
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json(),
        json!({"error": "type and user can not be blank"})
    );
    let f = s.sandbox.fixtures();
    let bad_type = s
        .post(
            "/api/v1/tasks",
            json!({"user_id": f.user_ids[0], "contact_id": f.contact_ids[0], "type": "fax", "status": "scheduled", "due_at": "2025-03-12T09:00:00Z"}),
        )
        .await;
    assert_eq!(bad_type.status, 422);
    let bad_time = s
        .post(
            "/api/v1/tasks",
            json!({"user_id": f.user_ids[0], "contact_id": f.contact_ids[0], "type": "call", "status": "scheduled", "due_at": "tomorrow"}),
        )
        .await;
    assert_eq!(bad_time.status, 422);
}

#[tokio::test]
async fn task_search_sorts_by_priority_and_counts_types() {
    let s = TestSandbox::spawn().await;
    let body = s
        .post(
            "/api/v1/tasks/search",
            json!({"sort_by_field": "task_priority", "open_factor_names": ["task_types"]}),
        )
        .await
        .json();
    assert_eq!(body["pagination"]["total_entries"], 3);
    assert_eq!(body["tasks"][0]["priority"], "high");
    assert_eq!(body["tasks"][2]["priority"], "low");
    assert_eq!(
        body["faceting"]["task_types"].as_array().map(Vec::len),
        Some(3)
    );
    let bad = s.get("/v1/tasks/search?sort_by_field=colour").await;
    assert_eq!(bad.status, 422);
}
