//! `GET /comics` filters: `q`, `genre`, `status` and `type`.

use crate::helpers::{ids, json, TestApp};
use crate::seeds::ComicSeed;

#[tokio::test]
async fn q_matches_titles_and_alt_titles_case_insensitively() {
    let app = TestApp::spawn().await;
    let mut solo = ComicSeed::titled("Solo Leveling");
    solo.alt_titles = vec!["나 혼자만 레벨업".into(), "Only I Level Up".into()];
    let solo = app.insert_comic(solo).await.to_string();
    let tower = app
        .insert_comic(ComicSeed::titled("Tower of God"))
        .await
        .to_string();

    assert_eq!(
        ids(&json(app.get_comics("q=LEVEL").await, 200).await),
        [solo.as_str()]
    );
    assert_eq!(
        ids(&json(app.get_comics("q=%ED%98%BC%EC%9E%90").await, 200).await),
        [solo.as_str()]
    );
    assert_eq!(
        ids(&json(app.get_comics("q=only+i").await, 200).await),
        [solo]
    );
    assert_eq!(
        ids(&json(app.get_comics("q=of%20god").await, 200).await),
        [tower]
    );
    assert_eq!(
        json(app.get_comics("q=nothing").await, 200).await["total"],
        0
    );
}

#[tokio::test]
async fn q_takes_like_wildcards_literally() {
    let app = TestApp::spawn().await;
    let percent = app
        .insert_comic(ComicSeed::titled("100% Love"))
        .await
        .to_string();
    app.insert_comic(ComicSeed::titled("100 Love")).await;
    let underscore = app.insert_comic(ComicSeed::titled("a_b")).await.to_string();
    app.insert_comic(ComicSeed::titled("axb")).await;
    let backslash = app
        .insert_comic(ComicSeed::titled(r"c\d"))
        .await
        .to_string();

    assert_eq!(
        ids(&json(app.get_comics("q=100%25").await, 200).await),
        [percent]
    );
    assert_eq!(
        ids(&json(app.get_comics("q=a_b").await, 200).await),
        [underscore]
    );
    assert_eq!(
        ids(&json(app.get_comics("q=c%5Cd").await, 200).await),
        [backslash]
    );
}

#[tokio::test]
async fn every_listed_genre_must_match() {
    let app = TestApp::spawn().await;
    let both = app
        .insert_comic(
            ComicSeed::titled("A")
                .created(2)
                .genres(&["action", "fantasy"]),
        )
        .await
        .to_string();
    let action = app
        .insert_comic(ComicSeed::titled("B").created(1).genres(&["action"]))
        .await
        .to_string();
    app.insert_comic(ComicSeed::titled("C").genres(&["romance"]))
        .await;

    assert_eq!(
        ids(&json(app.get_comics("genre=action").await, 200).await),
        [both.clone(), action]
    );
    assert_eq!(
        ids(&json(app.get_comics("genre=action,fantasy").await, 200).await),
        [both.as_str()]
    );
    assert_eq!(
        ids(&json(app.get_comics("genre=Fantasy,%20ACTION").await, 200).await),
        [both]
    );
    assert_eq!(
        json(app.get_comics("genre=action,horror").await, 200).await["total"],
        0
    );
    json(app.get_comics("genre=sci%20fi").await, 400).await;
}

#[tokio::test]
async fn status_and_type_filter_and_must_be_known_words() {
    let app = TestApp::spawn().await;
    let mut done = ComicSeed::titled("Done");
    done.status = "completed";
    done.kind = "webtoon";
    let done = app.insert_comic(done).await.to_string();
    let going = app
        .insert_comic(ComicSeed::titled("Going"))
        .await
        .to_string();

    assert_eq!(
        ids(&json(app.get_comics("status=completed").await, 200).await),
        [done.as_str()]
    );
    assert_eq!(
        ids(&json(app.get_comics("status=ongoing").await, 200).await),
        [going.as_str()]
    );
    assert_eq!(
        ids(&json(app.get_comics("type=webtoon").await, 200).await),
        [done]
    );
    assert_eq!(
        ids(&json(app.get_comics("type=manga&status=ongoing").await, 200).await),
        [going]
    );
    assert_eq!(
        json(app.get_comics("status=hiatus").await, 200).await["total"],
        0
    );
    for query in ["status=paused", "type=novel", "status=Completed"] {
        json(app.get_comics(query).await, 400).await;
    }
}
