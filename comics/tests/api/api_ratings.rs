//! Ratings through HTTP: giving, changing and removing a score, the comic
//! document's `rating` (exact under concurrency, Bayesian per API.md), the
//! top-rated ranking, `sort=rating`, and `/me/ratings`.

use std::collections::BTreeMap;

use crate::support::client::{consistency, error_fields, json_with, problem};
use crate::support::writer::{metadata, Writer};
use crate::support::TestApp;
use comics_domain::values::Score;
use comics_domain::{rating_id, RatingCommand};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Float tolerance for averages (API.md gives no rounding; they are `f64`).
const EPS: f64 = 1e-9;

fn assert_close(actual: &Value, expected: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!(
        (a - expected).abs() < EPS,
        "{what}: got {a}, expected {expected}"
    );
}

/// Asserts a `rating` object: its average, bayesian and count.
fn assert_rating(rating: &Value, average: f64, bayesian: f64, count: i64) {
    assert_eq!(rating["count"], json!(count), "count in {rating}");
    assert_close(&rating["average"], average, "average");
    assert_close(&rating["bayesian"], bayesian, "bayesian");
}

fn assert_unrated(rating: &Value) {
    assert_eq!(rating["count"], json!(0), "a comic without votes: {rating}");
    assert_eq!(rating["average"], Value::Null, "{rating}");
    assert_eq!(rating["bayesian"], Value::Null, "{rating}");
    assert!(rating.get("average").is_some() && rating.get("bayesian").is_some());
}

/// API.md's Bayesian average of each comic, given every rated comic's votes.
fn bayesian(votes: &[&[i64]]) -> Vec<f64> {
    let all: Vec<i64> = votes.iter().flat_map(|v| v.iter().copied()).collect();
    let global = all.iter().sum::<i64>() as f64 / all.len() as f64;
    let m = all.len() as f64 / votes.len() as f64;
    votes
        .iter()
        .map(|v| {
            let n = v.len() as f64;
            let a = v.iter().sum::<i64>() as f64 / n;
            (n * a + m * global) / (n + m)
        })
        .collect()
}

fn mean(scores: &[i64]) -> f64 {
    scores.iter().sum::<i64>() as f64 / scores.len() as f64
}

/// Creates a comic and waits until the catalog shows it (rating tokens make
/// reads wait for the ratings projection only).
async fn new_comic(app: &TestApp, title: &str) -> String {
    let (id, token) = app.comic(title).await;
    app.wait_for_all(&[token]).await;
    id
}

/// The comic document, read after `token`.
async fn doc(app: &TestApp, id: &str, token: &str) -> Value {
    json_with(app.get_comic(id, token).await, 200).await
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["comic_id"]
                .as_str()
                .or_else(|| i["comic"]["id"].as_str())
                .or_else(|| i["id"].as_str())
                .expect("an id")
                .to_string()
        })
        .collect()
}

/// Users `prefix0`.. each rate `comic` with their score, all at once; every
/// answer must be 200. Returns the consistency tokens.
async fn rate_concurrently(
    app: &TestApp,
    users: &[String],
    comic: &str,
    scores: &[i64],
) -> Vec<String> {
    let answers = join_all(users.iter().zip(scores).map(|(user, score)| async move {
        let r = app.rate_comic(user, comic, *score).await;
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("x-consistency-token")
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.text().await.unwrap_or_default();
        (status, token, body)
    }))
    .await;
    answers
        .into_iter()
        .enumerate()
        .map(|(i, (status, token, body))| {
            assert_eq!(status, 200, "rating {i} answered {status}: {body}");
            token.expect("X-Consistency-Token")
        })
        .collect()
}

// Giving, changing, removing.

#[tokio::test]
async fn rating_a_comic_answers_200_with_a_token_and_the_document_shows_the_vote() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Rated").await;
    let r = app.rate_comic(&app.user_token, &id, 7).await;
    assert_eq!(r.status(), 200);
    let token = consistency(&r);
    assert!(!token.is_empty());
    let doc = doc(&app, &id, &token).await;
    assert_rating(&doc["rating"], 7.0, 7.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_comic_without_votes_has_null_averages_and_a_count_of_zero() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Unrated").await;
    let doc = doc(&app, &id, &token).await;
    assert_unrated(&doc["rating"]);
    app.stop().await;
}

#[tokio::test]
async fn changing_a_score_replaces_it_and_the_count_stays_one() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Changed").await;
    app.rated(&app.user_token, &id, 7).await;
    let token = app.rated(&app.user_token, &id, 3).await;
    let doc = doc(&app, &id, &token).await;
    assert_rating(&doc["rating"], 3.0, 3.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn giving_the_same_score_again_is_200_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Same again").await;
    app.rated(&app.user_token, &id, 9).await;
    let token = app.rated(&app.user_token, &id, 9).await;
    let doc = doc(&app, &id, &token).await;
    assert_rating(&doc["rating"], 9.0, 9.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn removing_a_rating_is_204_and_removing_it_again_is_404() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Unrated again").await;
    app.rated(&app.user_token, &id, 7).await;
    let r = app.unrate_comic(Some(&app.user_token), &id).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    assert_unrated(&doc(&app, &id, &token).await["rating"]);
    let mine = json_with(
        app.my_ratings(Some(&app.user_token), "", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(mine["total"], json!(0), "{mine}");
    problem(app.unrate_comic(Some(&app.user_token), &id).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn removing_a_rating_that_was_never_given_is_404() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Never rated").await;
    problem(app.unrate_comic(Some(&app.user_token), &id).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_removed_rating_can_be_given_again() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Back again").await;
    app.rated(&app.user_token, &id, 2).await;
    let r = app.unrate_comic(Some(&app.user_token), &id).await;
    assert_eq!(r.status(), 204);
    let token = app.rated(&app.user_token, &id, 8).await;
    assert_rating(&doc(&app, &id, &token).await["rating"], 8.0, 8.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn only_the_callers_own_rating_is_removed() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Two raters").await;
    let other = app.user("other");
    app.rated(&app.user_token, &id, 10).await;
    app.rated(&other, &id, 4).await;
    let r = app.unrate_comic(Some(&other), &id).await;
    assert_eq!(r.status(), 204);
    let doc = doc(&app, &id, &consistency(&r)).await;
    assert_rating(&doc["rating"], 10.0, 10.0, 1);
    app.stop().await;
}

// Validation and access.

#[tokio::test]
async fn a_score_that_is_not_an_integer_from_1_to_10_is_422_naming_score() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Strict").await;
    for bad in [
        json!(0),
        json!(11),
        json!(-1),
        json!(7.5),
        json!("7"),
        json!(null),
        json!(true),
    ] {
        let r = app
            .rate_with(Some(&app.user_token), &id, json!({ "score": bad }))
            .await;
        let body = problem(r, 422).await;
        assert_eq!(error_fields(&body), vec!["score"], "score {bad}: {body}");
    }
    // Nothing was recorded: a valid rating afterwards is the only vote.
    let token = app.rated(&app.user_token, &id, 1).await;
    assert_rating(&doc(&app, &id, &token).await["rating"], 1.0, 1.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_body_without_score_or_with_an_unknown_field_is_422() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Strict body").await;
    let r = app.rate_with(Some(&app.user_token), &id, json!({})).await;
    let body = problem(r, 422).await;
    assert_eq!(error_fields(&body), vec!["score"], "{body}");
    let r = app
        .rate_with(Some(&app.user_token), &id, json!({"score": 7, "stars": 5}))
        .await;
    let body = problem(r, 422).await;
    assert_eq!(error_fields(&body), vec!["stars"], "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_rating_body_that_is_not_a_json_object_is_422_and_records_nothing() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Objects only").await;
    let mut answers = Vec::new();
    for bad in [json!(7), json!("score"), json!([7])] {
        let r = app.rate_with(Some(&app.user_token), &id, bad.clone()).await;
        let status = r.status().as_u16();
        answers.push(format!("{bad} -> {status} {}", r.text().await.unwrap()));
    }
    let accepted: Vec<&String> = answers.iter().filter(|a| !a.contains(" -> 422 ")).collect();
    assert!(accepted.is_empty(), "not refused with 422: {accepted:#?}");
    let token = app.rated(&app.user("witness"), &id, 1).await;
    assert_rating(&doc(&app, &id, &token).await["rating"], 1.0, 1.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_rating_body_is_400_and_a_non_json_one_is_415() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Malformed").await;
    let path = format!("/api/v1/comics/{id}/rating");
    let token = app.user_token.clone();
    let r = app
        .send_raw(
            Method::PUT,
            &path,
            Some(&token),
            Some("application/json"),
            b"{\"score\": ".to_vec(),
        )
        .await;
    problem(r, 400).await;
    let r = app
        .send_raw(
            Method::PUT,
            &path,
            Some(&token),
            Some("text/plain"),
            b"{\"score\": 7}".to_vec(),
        )
        .await;
    problem(r, 415).await;
    app.stop().await;
}

#[tokio::test]
async fn rating_without_a_valid_token_is_401() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Members only").await;
    let expired = app
        .env
        .jwt()
        .mint("late", &[], chrono::Duration::hours(-2))
        .unwrap();
    problem(app.rate_with(None, &id, json!({"score": 7})).await, 401).await;
    for bad in ["not-a-jwt", expired.as_str()] {
        let r = app.rate_with(Some(bad), &id, json!({"score": 7})).await;
        problem(r, 401).await;
    }
    problem(app.unrate_comic(None, &id).await, 401).await;
    let token = app.rated(&app.user_token, &id, 5).await;
    problem(app.unrate_comic(Some(&expired), &id).await, 401).await;
    // The refused requests changed nothing.
    assert_rating(&doc(&app, &id, &token).await["rating"], 5.0, 5.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn rating_an_unknown_comic_is_404() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(app.rate_comic(&app.user_token, &unknown, 7).await, 404).await;
    problem(app.rate_comic(&app.user_token, "not-a-uuid", 7).await, 404).await;
    problem(app.unrate_comic(Some(&app.user_token), &unknown).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn rating_a_deleted_comic_is_404() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Gone").await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    problem(app.rate_comic(&app.user_token, &id, 7).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_rated_comic_that_is_deleted_leaves_my_ratings_top_rated_and_the_global_mean() {
    let app = TestApp::spawn().await;
    let doomed = new_comic(&app, "Doomed").await;
    let kept = new_comic(&app, "Kept").await;
    let other = app.user("other");
    app.rated(&app.user_token, &doomed, 10).await;
    app.rated(&other, &doomed, 10).await;
    app.rated(&app.user_token, &kept, 4).await;
    let token = app.rated(&other, &kept, 6).await;
    let ranking = json_with(app.top_rated("", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![doomed.clone(), kept.clone()]);

    let r = app.delete_comic(&doomed).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    let mine = json_with(
        app.my_ratings(Some(&app.user_token), "", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&mine), vec![kept.clone()], "{mine}");
    assert_eq!(mine["total"], json!(1));
    let ranking = json_with(app.top_rated("", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![kept.clone()], "{ranking}");
    assert_eq!(ranking["total"], json!(1));
    // The deleted comic's votes no longer count in the global mean: the
    // only rated comic left has bayesian == average.
    assert_rating(&ranking["items"][0]["rating"], 5.0, 5.0, 2);
    assert_rating(&doc(&app, &kept, &token).await["rating"], 5.0, 5.0, 2);
    let sorted = json_with(app.list_comics("sort=rating", &token).await, 200).await;
    assert_eq!(ids(&sorted), vec![kept.clone()]);
    app.stop().await;
}

// Exact statistics under concurrency.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_users_rating_one_comic_at_once_are_all_counted_exactly() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Crowded").await;
    let users: Vec<String> = (0..200).map(|i| app.user(&format!("u{i}"))).collect();
    let scores: Vec<i64> = (0..200).map(|i| 1 + i % 10).collect();
    let tokens = rate_concurrently(&app, &users, &id, &scores).await;
    app.wait_for_ratings(&tokens).await;
    let doc = doc(&app, &id, tokens.last().unwrap()).await;
    assert_rating(&doc["rating"], 5.5, 5.5, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_and_removals_among_two_hundred_raters_keep_the_stats_exact() {
    let app = TestApp::spawn().await;
    let id = new_comic(&app, "Churn").await;
    let users: Vec<String> = (0..200).map(|i| app.user(&format!("u{i}"))).collect();
    let scores: Vec<i64> = (0..200).map(|i| 1 + i % 10).collect();
    let mut tokens = rate_concurrently(&app, &users, &id, &scores).await;
    let mut expected: BTreeMap<usize, i64> = scores.iter().copied().enumerate().collect();

    // Users 0..50 change their score (some to the same one), users 100..120
    // remove theirs; all at once.
    let changed: Vec<i64> = (0..50).map(|i| 1 + (i * 3 + 4) % 10).collect();
    for (i, s) in changed.iter().enumerate() {
        expected.insert(i, *s);
    }
    for i in 100..120 {
        expected.remove(&i);
    }
    let changes = rate_concurrently(&app, &users[..50], &id, &changed);
    let removals = join_all(users[100..120].iter().map(|user| async {
        let r = app.unrate_comic(Some(user), &id).await;
        (r.status().as_u16(), consistency(&r))
    }));
    let (changes, removals) = futures::join!(changes, removals);
    tokens.extend(changes);
    for (status, token) in removals {
        assert_eq!(status, 204, "a removal");
        tokens.push(token);
    }
    app.wait_for_ratings(&tokens).await;

    let left: Vec<i64> = expected.values().copied().collect();
    assert_eq!(left.len(), 180);
    let doc = doc(&app, &id, tokens.last().unwrap()).await;
    let average = mean(&left);
    assert_rating(&doc["rating"], average, average, 180);
    let ranking = json_with(app.top_rated("", None).await, 200).await;
    assert_rating(&ranking["items"][0]["rating"], average, average, 180);
    app.stop().await;
}

// Bayesian average, top-rated, sort=rating.

/// Comics A (votes 10, 8), B (6, 6, 6) and C (unrated), by users v0...
async fn two_rated_one_not(app: &TestApp) -> (String, String, String, String) {
    let a = new_comic(app, "A").await;
    let b = new_comic(app, "B").await;
    let c = new_comic(app, "C").await;
    let mut tokens = Vec::new();
    for (i, score) in [10, 8].iter().enumerate() {
        tokens.push(app.rated(&app.user(&format!("v{i}")), &a, *score).await);
    }
    for i in 0..3 {
        tokens.push(app.rated(&app.user(&format!("v{i}")), &b, 6).await);
    }
    app.wait_for_ratings(&tokens).await;
    (a, b, c, tokens.pop().unwrap())
}

#[tokio::test]
async fn the_bayesian_average_follows_the_documented_formula() {
    let app = TestApp::spawn().await;
    let (a, b, c, token) = two_rated_one_not(&app).await;
    let expected = bayesian(&[&[10, 8], &[6, 6, 6]]);
    // A = 36 / 5 = 7.2, m = 5 / 2: A (18 + 18) / 4.5 = 8, B 36 / 5.5.
    assert_close(&json!(expected[0]), 8.0, "the test's own formula");
    assert_rating(&doc(&app, &a, &token).await["rating"], 9.0, expected[0], 2);
    assert_rating(&doc(&app, &b, &token).await["rating"], 6.0, expected[1], 3);
    assert_unrated(&doc(&app, &c, &token).await["rating"]);
    // Lists show the same numbers as documents.
    let list = json_with(app.list_comics("", &token).await, 200).await;
    for item in list["items"].as_array().unwrap() {
        let single = doc(&app, item["id"].as_str().unwrap(), &token).await;
        assert_eq!(item["rating"], single["rating"], "{}", item["title"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn top_rated_ranks_by_bayesian_average_and_min_votes_filters() {
    let app = TestApp::spawn().await;
    let (a, b, _, token) = two_rated_one_not(&app).await;
    let expected = bayesian(&[&[10, 8], &[6, 6, 6]]);

    let ranking = json_with(app.top_rated("", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![a.clone(), b.clone()], "{ranking}");
    assert_eq!(ranking["total"], json!(2));
    let first = &ranking["items"][0];
    assert_eq!(first["rank"], json!(1));
    assert_eq!(ranking["items"][1]["rank"], json!(2));
    assert_rating(&first["rating"], 9.0, expected[0], 2);
    assert_eq!(first["comic"]["id"], json!(a));
    assert_eq!(first["comic"]["title"], json!("A"));
    assert_eq!(first["comic"]["status"], json!("ongoing"));
    assert_eq!(first["comic"]["type"], json!("manga"));
    assert_eq!(first["comic"]["cover_url"], Value::Null);
    assert_eq!(first["comic"]["rating"], first["rating"]);

    let ranking = json_with(app.top_rated("min_votes=3", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![b.clone()], "{ranking}");
    assert_eq!(ranking["total"], json!(1));
    assert_eq!(ranking["items"][0]["rank"], json!(1));
    assert_rating(&ranking["items"][0]["rating"], 6.0, expected[1], 3);

    let ranking = json_with(app.top_rated("min_votes=4", Some(&token)).await, 200).await;
    assert_eq!(ranking["items"], json!([]));
    assert_eq!(ranking["total"], json!(0));

    // Ranks count over the whole ranking, not the page.
    let ranking = json_with(app.top_rated("limit=1&offset=1", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![b.clone()]);
    assert_eq!(ranking["items"][0]["rank"], json!(2));
    assert_eq!(ranking["total"], json!(2));
    app.stop().await;
}

#[tokio::test]
async fn top_rated_breaks_bayesian_ties_by_vote_count() {
    let app = TestApp::spawn().await;
    let few = new_comic(&app, "Few votes").await;
    let many = new_comic(&app, "Many votes").await;
    // Every vote is 5, so both bayesian averages are exactly 5.
    app.rated(&app.user("t0"), &few, 5).await;
    app.rated(&app.user("t0"), &many, 5).await;
    let token = app.rated(&app.user("t1"), &many, 5).await;
    let ranking = json_with(app.top_rated("", Some(&token)).await, 200).await;
    assert_eq!(ids(&ranking), vec![many.clone(), few.clone()], "{ranking}");
    assert_rating(&ranking["items"][0]["rating"], 5.0, 5.0, 2);
    assert_rating(&ranking["items"][1]["rating"], 5.0, 5.0, 1);
    app.stop().await;
}

#[tokio::test]
async fn top_rated_refuses_a_min_votes_below_one_or_not_a_number() {
    let app = TestApp::spawn().await;
    for bad in ["0", "-1", "many"] {
        problem(app.top_rated(&format!("min_votes={bad}"), None).await, 400).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn sorting_comics_by_rating_puts_unrated_comics_last() {
    let app = TestApp::spawn().await;
    let (a, b, c, token) = two_rated_one_not(&app).await;
    let (d, token_d) = app.comic("D, newest and unrated").await;
    app.wait_for_all(&[token_d]).await;

    let list = json_with(app.list_comics("sort=rating", &token).await, 200).await;
    let order = ids(&list);
    assert_eq!(order[..2], [a.clone(), b.clone()], "{order:?}");
    let mut unrated = order[2..].to_vec();
    unrated.sort();
    let mut expected = vec![c.clone(), d.clone()];
    expected.sort();
    assert_eq!(unrated, expected, "unrated last");
    assert_eq!(list["total"], json!(4));

    let list = json_with(app.list_comics("sort=rating&order=asc", &token).await, 200).await;
    let order = ids(&list);
    assert_eq!(order[..2], [b.clone(), a.clone()], "ascending: {order:?}");

    // Paging goes through the same order.
    let list = json_with(
        app.list_comics("sort=rating&limit=1&offset=1", &token)
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&list), vec![b.clone()]);
    app.stop().await;
}

// /me/ratings.

#[tokio::test]
async fn my_ratings_lists_the_callers_scores_newest_first() {
    let app = TestApp::spawn().await;
    let c1 = new_comic(&app, "First").await;
    let c2 = new_comic(&app, "Second").await;
    let c3 = new_comic(&app, "Third").await;
    app.rated(&app.user_token, &c1, 1).await;
    app.rated(&app.user_token, &c2, 2).await;
    let token = app.rated(&app.user_token, &c3, 3).await;
    let mine = json_with(
        app.my_ratings(Some(&app.user_token), "", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(
        ids(&mine),
        vec![c3.clone(), c2.clone(), c1.clone()],
        "{mine}"
    );
    assert_eq!(mine["total"], json!(3));
    let item = &mine["items"][0];
    assert_eq!(item["score"], json!(3));
    let rated_at = item["rated_at"].as_str().expect("rated_at");
    chrono::DateTime::parse_from_rfc3339(rated_at).expect("rated_at is RFC 3339");
    let older = mine["items"][1]["rated_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(older).unwrap()
            <= chrono::DateTime::parse_from_rfc3339(rated_at).unwrap()
    );

    // A changed score is the newest.
    let token = app.rated(&app.user_token, &c1, 9).await;
    let mine = json_with(
        app.my_ratings(Some(&app.user_token), "", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(
        ids(&mine),
        vec![c1.clone(), c3.clone(), c2.clone()],
        "{mine}"
    );
    assert_eq!(mine["items"][0]["score"], json!(9));

    let page = json_with(
        app.my_ratings(Some(&app.user_token), "limit=2&offset=1", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&page), vec![c3.clone(), c2.clone()]);
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(3), &json!(2), &json!(1))
    );
    app.stop().await;
}

#[tokio::test]
async fn my_ratings_shows_only_the_callers_own_ratings() {
    let app = TestApp::spawn().await;
    let mine_id = new_comic(&app, "Mine").await;
    let theirs_id = new_comic(&app, "Theirs").await;
    let both_id = new_comic(&app, "Both").await;
    let other = app.user("other");
    app.rated(&app.user_token, &mine_id, 8).await;
    app.rated(&app.user_token, &both_id, 2).await;
    app.rated(&other, &theirs_id, 3).await;
    let token = app.rated(&other, &both_id, 10).await;
    let mine = json_with(
        app.my_ratings(Some(&app.user_token), "", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&mine), vec![both_id.clone(), mine_id.clone()], "{mine}");
    assert_eq!(mine["items"][0]["score"], json!(2));
    let theirs = json_with(app.my_ratings(Some(&other), "", Some(&token)).await, 200).await;
    assert_eq!(
        ids(&theirs),
        vec![both_id.clone(), theirs_id.clone()],
        "{theirs}"
    );
    assert_eq!(theirs["items"][0]["score"], json!(10));
    let nobody = app.user("nobody");
    let none = json_with(app.my_ratings(Some(&nobody), "", Some(&token)).await, 200).await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["total"], json!(0));
    app.stop().await;
}

#[tokio::test]
async fn my_ratings_without_a_valid_token_is_401() {
    let app = TestApp::spawn().await;
    problem(app.my_ratings(None, "", None).await, 401).await;
    problem(app.my_ratings(Some("garbage"), "", None).await, 401).await;
    app.stop().await;
}

// A group-commit round asks whether its comics are live with one statement
// for all of them, as of the store (a second write-side instance in the
// test process shows what its stores read).

/// Comics one load of ratings spreads over, and the users rating each.
const SPREAD: usize = 50;
const RATERS_EACH: usize = 10;

/// Rates `comic` through `writer`'s HTTP API as `user`; the status.
async fn rate_on(writer: &Writer, app: &TestApp, comic: &str, user: &str, score: i64) -> u16 {
    let path = format!("/api/v1/comics/{comic}/rating");
    writer
        .put(app, &path, user, Some(json!({ "score": score })))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ratings_spread_over_fifty_comics_read_the_comics_once_per_round() {
    let app = TestApp::spawn().await;
    let mut comics = Vec::new();
    for i in 0..SPREAD {
        comics.push(app.comic(&format!("Spread {i}")).await.0);
    }
    let writer = Writer::beside(&app).await;
    let commits = &writer.state.stores.rating_commits;
    // First with no comic in memory (each read whole), then with every
    // comic in memory (each caught up from its copy's sequence).
    for pass in 0..2 {
        let (reads, rounds) = (writer.comic_reads(), writer.rating_rounds());
        let ratings = comics.iter().flat_map(move |comic| {
            let comic_id: Uuid = comic.parse().expect("a comic id");
            (0..RATERS_EACH).map(move |u| {
                let user = format!("spread-{u}");
                let score = Score::try_from((1 + (u + pass) % 10) as i64).expect("a score");
                let id = rating_id(comic_id, &user).to_string();
                let meta = metadata(&user);
                let command = RatingCommand::Rate {
                    comic_id,
                    user,
                    score,
                };
                commits.execute(id, command, meta)
            })
        });
        for (i, answer) in join_all(ratings).await.into_iter().enumerate() {
            let done = answer.unwrap_or_else(|e| panic!("rating {i} of pass {pass}: {e:?}"));
            assert!(done.changed, "rating {i} of pass {pass} is a change");
        }
        let reads = writer.comic_reads() - reads;
        let rounds = writer.rating_rounds() - rounds;
        assert!(
            (1..=rounds).contains(&reads),
            "pass {pass}: {reads} comic reads in {rounds} rounds (at most one a round)"
        );
        assert!(
            rounds < SPREAD as u64,
            "pass {pass}: {rounds} rounds for {} ratings over {SPREAD} comics",
            SPREAD * RATERS_EACH
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_refuses_404_a_comic_deleted_through_another_instance_since_it_was_read() {
    let app = TestApp::spawn().await;
    let (doomed, _) = app.comic("Deleted elsewhere").await;
    let (kept, _) = app.comic("Kept").await;
    let writer = Writer::beside(&app).await;
    let users: Vec<String> = (0..20).map(|i| app.user(&format!("r{i}"))).collect();
    // The writer now holds both comics in memory, live.
    assert_eq!(rate_on(&writer, &app, &doomed, &users[0], 5).await, 200);
    assert_eq!(rate_on(&writer, &app, &kept, &users[0], 5).await, 200);
    assert_eq!(app.delete_comic(&doomed).await.status(), 204);

    let (reads, rounds) = (writer.comic_reads(), writer.rating_rounds());
    let answers = join_all(users.iter().flat_map(|user| {
        [
            rate_on(&writer, &app, &doomed, user, 7),
            rate_on(&writer, &app, &kept, user, 7),
        ]
    }))
    .await;
    for (user, pair) in answers.chunks(2).enumerate() {
        assert_eq!(
            pair,
            [404, 200],
            "user {user}: the deleted comic, the kept one"
        );
    }
    let reads = writer.comic_reads() - reads;
    let rounds = writer.rating_rounds() - rounds;
    assert!(reads <= rounds, "{reads} comic reads in {rounds} rounds");
    app.stop().await;
}
