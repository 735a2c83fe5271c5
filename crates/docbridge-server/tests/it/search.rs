//! `/search` (C10): a required query, case-insensitive terms that must all match the name or a
//! text file's content, never a pattern language, subtree scopes, ranking and paging.

use reqwest::StatusCode;

use crate::support::{TestServer, assert_error, assert_metadata, find, id_of, titles};

async fn found(server: &TestServer, query: &str) -> Vec<String> {
    server.search(&[("query", query)]).await.iter().map(|i| i["title"].as_str().unwrap().to_owned()).collect()
}

/// Titles found under a folder, sorted by name.
async fn found_in(server: &TestServer, query: &str, parent: &str) -> Vec<String> {
    let mut titles: Vec<String> = server
        .search(&[("query", query), ("parentId", parent)])
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

#[tokio::test]
async fn the_query_is_required() {
    let server = TestServer::start().await;
    assert_error(&server.get("search", &[]).await, 400);
    assert_error(&server.get("search", &[("query", "")]).await, 400);
    assert_error(&server.get("search", &[("query", "   ")]).await, 400);
}

#[tokio::test]
async fn terms_match_without_case_and_all_must_match() {
    let server = TestServer::start().await;
    for name in ["Quarterly Report.pdf", "Quarterly Budget.xlsx", "Annual Report.pdf"] {
        server.upload("/", name, "-").await;
    }
    let mut quarterly = found(&server, "quarterly").await;
    quarterly.sort();
    assert_eq!(quarterly, ["Quarterly Budget.xlsx", "Quarterly Report.pdf"]);
    assert_eq!(found(&server, "QUARTERLY REPORT").await, ["Quarterly Report.pdf"]);
    assert_eq!(found(&server, "report   quarterly").await, ["Quarterly Report.pdf"]);
    assert_eq!(found(&server, "rTeRlY bUdG").await, ["Quarterly Budget.xlsx"]);
    assert!(found(&server, "quarterly missing").await.is_empty());
    assert!(found(&server, "nothing").await.is_empty());
}

#[tokio::test]
async fn text_content_matches_but_binary_content_does_not() {
    let server = TestServer::start().await;
    server.upload("/", "notes.txt", "The zebra migrates south in winter").await;
    server.upload("/", "data.json", r#"{"animal": "okapi"}"#).await;
    server.upload("/", "blob.bin", "zebra okapi zebra").await;
    assert_eq!(found(&server, "zebra").await, ["notes.txt"]);
    assert_eq!(found(&server, "ZEBRA south").await, ["notes.txt"]);
    assert_eq!(found(&server, "notes zebra").await, ["notes.txt"], "terms may match name and content");
    assert_eq!(found(&server, "okapi").await, ["data.json"]);
    assert!(found(&server, "zebra okapi").await.is_empty(), "no one text file holds both");
}

#[tokio::test]
async fn new_content_replaces_the_old_in_the_index() {
    let server = TestServer::start().await;
    let file = server.upload("/", "draft.txt", "alphabet soup").await;
    assert_eq!(found(&server, "alphabet").await, ["draft.txt"]);
    let reply = server.put_bytes(id_of(&file), "omega point").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(found(&server, "omega").await, ["draft.txt"]);
    assert!(found(&server, "alphabet").await.is_empty());
}

#[tokio::test]
async fn folders_match_too() {
    let server = TestServer::start().await;
    server.create_folder("/", "Zebra Crossing").await;
    let results = server.search(&[("query", "crossing")]).await;
    assert_eq!(titles(&results), ["Zebra Crossing"]);
    assert_metadata(&results[0], &server.base);
    assert_eq!(results[0]["kind"], "folder");
}

#[tokio::test]
async fn results_carry_full_metadata() {
    let server = TestServer::start().await;
    let file = server.upload("/", "manual.txt", "how to").await;
    let results = server.search(&[("query", "manual")]).await;
    assert_eq!(results.len(), 1);
    assert_metadata(&results[0], &server.base);
    assert_eq!(results[0]["id"], file["id"]);
    assert_eq!(results[0]["size"], 6);
}

#[tokio::test]
async fn parent_id_limits_the_search_to_a_subtree() {
    let server = TestServer::start().await;
    let a = server.create_folder("/", "A").await;
    let b = server.create_folder("/", "B").await;
    let sub = server.create_folder(id_of(&a), "Sub").await;
    server.upload(id_of(&a), "target one.txt", "-").await;
    server.upload(id_of(&sub), "target three.txt", "-").await;
    let two = server.upload(id_of(&b), "target two.txt", "-").await;
    // A sibling whose name starts like the scope's must stay out of it.
    let ab = server.create_folder("/", "AB").await;
    server.upload(id_of(&ab), "target four.txt", "-").await;

    assert_eq!(found_in(&server, "target", id_of(&a)).await, ["target one.txt", "target three.txt"]);
    assert_eq!(found_in(&server, "target", id_of(&b)).await, ["target two.txt"]);
    assert_eq!(server.search(&[("query", "target"), ("parentId", "/")]).await.len(), 4);
    assert_error(&server.get("search", &[("query", "target"), ("parentId", id_of(&two))]).await, 400);
    assert_error(&server.get("search", &[("query", "target"), ("parentId", "AAAAAAAAAAAAAAAAAAAAAA")]).await, 404);
}

#[tokio::test]
async fn at_most_a_hundred_results_by_default() {
    let server = TestServer::start().await;
    for i in 0..105 {
        std::fs::write(server.docs().join(format!("needle {i:03}.txt")), "-").unwrap();
    }
    // A listing gives the copied-in files their IDs (and puts their names in the index).
    assert_eq!(server.list("/").await.len(), 105);
    assert_eq!(server.search(&[("query", "needle")]).await.len(), 100);
    assert_eq!(server.search(&[("query", "needle"), ("max", "150")]).await.len(), 105);
    let tail = server.search(&[("query", "needle"), ("max", "10"), ("offset", "100")]).await;
    assert_eq!(
        titles(&tail),
        ["needle 100.txt", "needle 101.txt", "needle 102.txt", "needle 103.txt", "needle 104.txt"]
    );
    assert_error(&server.get("search", &[("query", "needle"), ("max", "-5")]).await, 400);
}

#[tokio::test]
async fn queries_are_never_patterns() {
    let server = TestServer::start().await;
    for name in ["abc.txt", "a.c.txt", "100%.txt", "1000.txt", "a_b.txt", "axb.txt", "x+y.txt", "xxy.txt", "[ab].txt"] {
        server.upload("/", name, "-").await;
    }
    assert_eq!(found(&server, "a.c").await, ["a.c.txt"]);
    assert_eq!(found(&server, "0%").await, ["100%.txt"]);
    assert_eq!(found(&server, "00%").await, ["100%.txt"]);
    assert_eq!(found(&server, "a_").await, ["a_b.txt"]);
    assert_eq!(found(&server, "a_b").await, ["a_b.txt"]);
    assert_eq!(found(&server, "x+y").await, ["x+y.txt"]);
    assert_eq!(found(&server, "[ab]").await, ["[ab].txt"]);
    assert!(found(&server, ".*").await.is_empty());
    assert!(found(&server, "a*c").await.is_empty());
    assert_eq!(found(&server, "%").await, ["100%.txt"]);
    assert!(found(&server, "\"a\" OR \"x\"").await.is_empty());
}

#[tokio::test]
async fn best_matches_come_first_then_names() {
    let server = TestServer::start().await;
    server.upload("/", "annual report.docx", "-").await;
    server.upload("/", "zz notes.txt", "the report is inside").await;
    server.upload("/", "reports 2024.xlsx", "-").await;
    server.upload("/", "report.pdf", "-").await;
    server.create_folder("/", "Report").await;
    assert_eq!(
        found(&server, "report").await,
        ["Report", "report.pdf", "reports 2024.xlsx", "annual report.docx", "zz notes.txt"]
    );
}

#[tokio::test]
async fn files_copied_in_are_found_by_content_after_maintenance() {
    let server = TestServer::start().await;
    std::fs::create_dir_all(server.docs().join("old/archive")).unwrap();
    std::fs::write(server.docs().join("old/archive/memo.txt"), "remember the flamingo").unwrap();
    let report = server.library().await.maintain(true).await.expect("maintenance runs");
    assert!(report.contents_indexed >= 1, "{report:?}");
    let results = server.search(&[("query", "flamingo")]).await;
    assert_eq!(titles(&results), ["memo.txt"]);
    assert_eq!(server.content(id_of(&results[0])).await, b"remember the flamingo");
    let by_name = server.search(&[("query", "archive")]).await;
    assert!(find(&by_name, "archive").is_some_and(|f| f["kind"] == "folder"));
}

#[tokio::test]
async fn case_is_ignored_beyond_ascii() {
    let server = TestServer::start().await;
    server.upload("/", "Été à Paris.txt", "-").await;
    server.upload("/", "Q3 plan.txt", "-").await;
    assert_eq!(found(&server, "été").await, ["Été à Paris.txt"]);
    assert_eq!(found(&server, "ÉTÉ").await, ["Été à Paris.txt"]);
    assert_eq!(found(&server, "q3").await, ["Q3 plan.txt"]);
    // Terms shorter than three characters take another path through the index.
    assert_eq!(found(&server, "ét").await, ["Été à Paris.txt"]);
    assert_eq!(found(&server, "À").await, ["Été à Paris.txt"]);
}
