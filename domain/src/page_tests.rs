//! Given/when/then tests of the Page aggregate.

use super::*;
use crate::values::ImageType;
use cqrs_es::test::TestFramework;

const CHAPTER: Uuid = Uuid::from_u128(0xCA);
const COMIC: Uuid = Uuid::from_u128(0xC0);

/// The chapter's comic, or `None` when the chapter (or its comic) is gone.
struct Chapter(Option<Uuid>);

#[async_trait]
impl PageServices for Chapter {
    async fn live_chapter(&self, chapter_id: Uuid) -> Result<Option<Uuid>, String> {
        assert_eq!(chapter_id, CHAPTER);
        Ok(self.0)
    }
}

struct Down;

#[async_trait]
impl PageServices for Down {
    async fn live_chapter(&self, _: Uuid) -> Result<Option<Uuid>, String> {
        Err("event store is down".into())
    }
}

fn pages() -> TestFramework<Page> {
    pages_with(Chapter(Some(COMIC)))
}

fn pages_with(services: impl PageServices + 'static) -> TestFramework<Page> {
    let services: Arc<dyn PageServices> = Arc::new(services);
    TestFramework::with(services)
}

fn image(seed: u8) -> Image {
    Image {
        content_type: ImageType::Png,
        width: 800,
        height: 1200,
        size: 1000 + seed as u64,
        sha256: format!("{seed:064x}"),
        key: format!("images/{seed:064x}"),
    }
}

fn added(number: u32, seed: u8) -> PageEvent {
    PageEvent::PageAdded {
        comic_id: COMIC,
        number,
        image: image(seed),
    }
}

fn put(number: u32, seed: u8) -> PageCommand {
    PageCommand::Put {
        chapter_id: CHAPTER,
        number,
        image: image(seed),
    }
}

#[tokio::test]
async fn putting_a_new_page_adds_it() {
    pages()
        .given_no_previous_events()
        .when_async(put(1, 1))
        .await
        .then_expect_events(vec![added(1, 1)]);
}

#[tokio::test]
async fn putting_an_existing_page_replaces_it() {
    pages()
        .given(vec![added(1, 1)])
        .when_async(put(1, 2))
        .await
        .then_expect_events(vec![PageEvent::PageReplaced {
            comic_id: COMIC,
            number: 1,
            image: image(2),
        }]);
}

#[tokio::test]
async fn putting_the_same_image_again_changes_nothing() {
    pages()
        .given(vec![added(1, 1)])
        .when_async(put(1, 1))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn page_number_zero_is_refused() {
    pages()
        .given_no_previous_events()
        .when_async(put(0, 1))
        .await
        .then_expect_error(PageError::BadNumber);
}

#[tokio::test]
async fn a_page_on_a_deleted_chapter_or_comic_is_refused() {
    pages_with(Chapter(None))
        .given_no_previous_events()
        .when_async(put(1, 1))
        .await
        .then_expect_error(PageError::ChapterNotFound);
    pages_with(Chapter(None))
        .given(vec![added(1, 1)])
        .when_async(PageCommand::Append {
            chapter_id: CHAPTER,
            images: vec![image(2)],
        })
        .await
        .then_expect_error(PageError::ChapterNotFound);
    pages_with(Chapter(None))
        .given(vec![added(1, 1)])
        .when_async(PageCommand::Remove {
            chapter_id: CHAPTER,
            number: 1,
        })
        .await
        .then_expect_error(PageError::ChapterNotFound);
}

#[tokio::test]
async fn an_unreachable_event_store_is_reported() {
    pages_with(Down)
        .given_no_previous_events()
        .when_async(put(1, 1))
        .await
        .then_expect_error(PageError::Unavailable("event store is down".into()));
}

#[tokio::test]
async fn appending_numbers_pages_after_the_last_in_order() {
    pages()
        .given(vec![added(1, 1), added(5, 5)])
        .when_async(PageCommand::Append {
            chapter_id: CHAPTER,
            images: vec![image(6), image(7)],
        })
        .await
        .then_expect_events(vec![added(6, 6), added(7, 7)]);
    pages()
        .given_no_previous_events()
        .when_async(PageCommand::Append {
            chapter_id: CHAPTER,
            images: vec![image(1)],
        })
        .await
        .then_expect_events(vec![added(1, 1)]);
}

#[tokio::test]
async fn appending_nothing_is_refused() {
    pages()
        .given_no_previous_events()
        .when_async(PageCommand::Append {
            chapter_id: CHAPTER,
            images: vec![],
        })
        .await
        .then_expect_error(PageError::NothingToAppend);
}

#[tokio::test]
async fn removing_a_page_keeps_the_others_numbers() {
    pages()
        .given(vec![added(1, 1), added(2, 2)])
        .when_async(PageCommand::Remove {
            chapter_id: CHAPTER,
            number: 1,
        })
        .await
        .then_expect_events(vec![PageEvent::PageRemoved {
            comic_id: COMIC,
            number: 1,
        }]);
}

#[tokio::test]
async fn removing_a_missing_page_is_refused() {
    pages()
        .given(vec![
            added(1, 1),
            PageEvent::PageRemoved {
                comic_id: COMIC,
                number: 1,
            },
        ])
        .when_async(PageCommand::Remove {
            chapter_id: CHAPTER,
            number: 1,
        })
        .await
        .then_expect_error(PageError::PageNotFound);
}

#[tokio::test]
async fn removing_all_pages_clears_them_once() {
    pages()
        .given(vec![added(1, 1), added(2, 2)])
        .when_async(PageCommand::RemoveAll {
            chapter_id: CHAPTER,
        })
        .await
        .then_expect_events(vec![PageEvent::PagesCleared { comic_id: COMIC }]);
    pages()
        .given(vec![
            added(1, 1),
            PageEvent::PagesCleared { comic_id: COMIC },
        ])
        .when_async(PageCommand::RemoveAll {
            chapter_id: CHAPTER,
        })
        .await
        .then_expect_events(vec![]);
}

#[test]
fn the_next_number_follows_the_last_page() {
    let mut page = Page::default();
    assert_eq!(page.next_number(), 1);
    page.apply(added(3, 3));
    assert_eq!(page.next_number(), 4);
    page.apply(PageEvent::PagesCleared { comic_id: COMIC });
    assert_eq!(page.next_number(), 1);
}
