//! List paging, sorting and POST /.search.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

const N: usize = 250;

/// Creates N users over HTTP (8 at a time), named u000…u249 in a shuffled order, so that creation order
/// differs from name order.
async fn seed(app: &TestApp) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..N).step_by(8) {
                let k = (i * 97) % N; // a permutation of 0..N
                app.create_user(&format!("u{k:03}@contoso.com")).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("seeding task");
    }
}

async fn pages(app: TestApp) {
    seed(&app).await;
    let mut seen = HashSet::new();
    for (start, expected) in [(1, 100), (101, 100), (201, 50)] {
        let (st, _, list) = app.get(&format!("/Users?startIndex={start}&count=100")).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list["totalResults"], N);
        assert_eq!(list["itemsPerPage"], expected, "page at {start}");
        assert_eq!(list["startIndex"], start);
        let page = ids(&list);
        assert_eq!(page.len(), expected);
        for id in page {
            assert!(seen.insert(id.clone()), "id {id} repeated across pages");
        }
    }
    assert_eq!(seen.len(), N, "all users seen once");

    let (st, _, list) = app.get("/Users?count=0").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], N);
    assert_eq!(list["Resources"], json!([]));

    let (st, _, list) = app.get("/Users?startIndex=1000&count=10").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], N);
    assert_eq!(list["Resources"], json!([]));

    // Default page size and startIndex < 1 (treated as 1).
    let (_, _, list) = app.get("/Users?startIndex=0&count=5").await;
    assert_eq!(list["startIndex"], 1);
    assert_eq!(ids(&list).len(), 5);
}
both!(start_index_and_count, pages);

fn names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter_map(|r| r["userName"].as_str().map(str::to_owned))
        .collect()
}

async fn sorting_and_search(app: TestApp) {
    seed(&app).await;
    let (st, _, list) = app.get("/Users?sortBy=userName&sortOrder=descending&count=10").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], N);
    let want: Vec<String> = (0..10).map(|i| format!("u{:03}@contoso.com", N - 1 - i)).collect();
    assert_eq!(names(&list), want);

    let (_, _, list) = app.get("/Users?sortBy=userName&startIndex=101&count=3").await;
    assert_eq!(names(&list), vec!["u100@contoso.com", "u101@contoso.com", "u102@contoso.com"]);

    let (_, _, list) = app.get("/Users?sortBy=userName&sortOrder=ascending&count=250").await;
    let all = names(&list);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(all.len(), N);

    // POST /Users/.search
    let body = json!({
        "schemas": [SEARCH_REQUEST],
        "filter": "userName eq \"U042@contoso.com\"",
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10
    });
    let (st, _, list) = app.call(Method::POST, "/Users/.search", Some(&body)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(list["totalResults"], 1);
    assert_eq!(names(&list), vec!["u042@contoso.com"]);
    assert!(list["Resources"][0].get("emails").is_none(), "attributes honoured in .search");

    let body = json!({"schemas": [SEARCH_REQUEST], "sortBy": "userName", "sortOrder": "descending", "startIndex": 2, "count": 2});
    let (st, _, list) = app.call(Method::POST, "/Users/.search", Some(&body)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], N);
    assert_eq!(names(&list), vec!["u248@contoso.com", "u247@contoso.com"]);

    // Without the SearchRequest schema → 400.
    let (st, _, _) = app.call(Method::POST, "/Users/.search", Some(&json!({"filter": "userName pr"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
both!(sort_and_search, sorting_and_search);
