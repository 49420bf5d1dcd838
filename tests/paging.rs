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

/// Keyset paging, what a resync walks the directory with: deleting resources already sent cannot make
/// the walk skip one (with OFFSET paging, deleting u0 while the walk stood after u1 skipped u2).
async fn keyset_paging(app: TestApp) {
    use gateway::scim::Kind;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("k{i}@contoso.com")).await);
    }
    let first = app.store.page_after(app.tenant_pk, Kind::User, 0, 2).await.expect("page");
    assert_eq!(first.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids[..2]);
    let (st, _, _) = app.delete(&format!("/Users/{}", ids[0])).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let after = first.last().map(|r| r.pk).unwrap_or_default();
    let next = app.store.page_after(app.tenant_pk, Kind::User, after, 2).await.expect("page");
    assert_eq!(next.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids[2..4]);
}
both!(keyset, keyset_paging);

/// `POST /.search` at the root without a filter pages users then groups from the tables (on 7914331 it
/// read the whole tenant for every request).
async fn root_search_pages(app: TestApp) {
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(app.create_user(&format!("r{i}@contoso.com")).await);
    }
    let groups = [app.create_group("G0").await, app.create_group("G1").await];
    let search = |start: usize, count: usize| json!({"schemas": [SEARCH_REQUEST], "startIndex": start, "count": count});
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let (st, _, page) = app.post("/.search", search(start, 2)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        assert_eq!(page["totalResults"], 5, "{page}");
        seen.extend(ids(&page));
    }
    let all: Vec<String> = users.iter().chain(groups.iter()).cloned().collect();
    assert_eq!(seen, all, "users then groups, each in creation order, no gap and no repeat");
    let (_, _, page) = app.post("/.search", search(10, 2)).await;
    assert_eq!((page["totalResults"].as_i64(), ids(&page).len()), (Some(5), 0), "{page}");
}
both!(root_search, root_search_pages);
