//! The retry policy on tokio's paused clock: what is tried again, and
//! that nested layers share one budget instead of multiplying it.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

const WAIT: Duration = Duration::from_secs(3);
const LIMIT: Duration = Duration::from_secs(2);

fn failing(outcome: Unsettled) -> StoreError {
    StoreError::from(Unavailable::bare(outcome))
}

fn no_server() -> StoreError {
    failing(Unsettled::NotRun(NotRun::NoServer))
}

#[test]
fn each_outcome_is_tried_again_or_not_as_the_table_says() {
    use Unsettled::*;
    use Work::*;
    let rows = [
        (
            NotRun(super::NotRun::NoServer),
            Statement,
            Some(Pause::Wait),
        ),
        (NotRun(super::NotRun::NoServer), UnderKey, Some(Pause::Wait)),
        (
            NotRun(super::NotRun::StatementGone),
            Statement,
            Some(Pause::None),
        ),
        (
            NotRun(super::NotRun::StatementGone),
            UnderKey,
            Some(Pause::None),
        ),
        (NotRun(super::NotRun::Refused), Statement, None),
        (NotRun(super::NotRun::Refused), UnderKey, None),
        (MayHaveRun, Statement, None),
        (MayHaveRun, UnderKey, Some(Pause::Wait)),
        (Unconfirmed, Statement, None),
        (Unconfirmed, UnderKey, None),
        (CutShortByShutdown, Statement, None),
        (CutShortByShutdown, UnderKey, Some(Pause::Wait)),
    ];
    for (outcome, work, expected) in rows {
        assert_eq!(
            next_try(work, outcome),
            expected,
            "{outcome:?} of a {work:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_statement_that_never_finds_a_server_waits_out_the_budget_once() {
    let retry = Retry::new(WAIT, LIMIT);
    let started = Instant::now();
    let attempts = AtomicU32::new(0);
    let result: Result<(), _> = retry
        .run(Work::Statement, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            Err(no_server())
        })
        .await;
    assert_eq!(
        result.unwrap_err().unsettled(),
        Some(Unsettled::NotRun(NotRun::NoServer))
    );
    let waited = started.elapsed();
    assert!(waited <= WAIT, "waited {waited:?}");
    assert!(
        waited >= WAIT - RETRY_EVERY,
        "gave up early, after {waited:?}"
    );
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        30,
        "one attempt every 100 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn nested_layers_share_one_budget_instead_of_multiplying_it() {
    // A unit of work made again from its claim, whose claim is itself a
    // statement tried again: each layer alone would wait the whole budget
    // every time the other asked it to.
    let retry = Retry::new(WAIT, LIMIT);
    let started = Instant::now();
    let (outer, inner) = (AtomicU32::new(0), AtomicU32::new(0));
    let result: Result<(), StoreError> = one_budget(retry.run(Work::UnderKey, || async {
        outer.fetch_add(1, Ordering::Relaxed);
        retry
            .run(Work::Statement, || async {
                inner.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
                Err(no_server())
            })
            .await
    }))
    .await;
    assert!(result.is_err());
    let waited = started.elapsed();
    assert!(
        waited <= WAIT + LIMIT,
        "waited {waited:?}: the budget was multiplied ({} runs, {} statements)",
        outer.load(Ordering::Relaxed),
        inner.load(Ordering::Relaxed)
    );
    assert!(outer.load(Ordering::Relaxed) >= 1);
}

#[tokio::test(start_paused = true)]
async fn later_steps_of_one_request_draw_on_what_is_left() {
    let retry = Retry::new(WAIT, LIMIT);
    let started = Instant::now();
    one_budget(async {
        for _step in 0..3 {
            let _: Result<(), _> = retry
                .run(Work::Statement, || async { Err(no_server()) })
                .await;
        }
    })
    .await;
    assert!(
        started.elapsed() <= WAIT,
        "three steps waited {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_still_running_past_the_budget_and_one_limit_is_cut_off_as_may_have_run() {
    let retry = Retry::new(WAIT, LIMIT);
    let started = Instant::now();
    let attempts = AtomicU32::new(0);
    let result: Result<(), _> = retry
        .run(Work::Statement, || async {
            if attempts.fetch_add(1, Ordering::Relaxed) == 0 {
                return Err(no_server());
            }
            std::future::pending().await
        })
        .await;
    assert_eq!(result.unwrap_err().unsettled(), Some(Unsettled::MayHaveRun));
    assert_eq!(started.elapsed(), WAIT + LIMIT);
}

#[tokio::test(start_paused = true)]
async fn a_lost_prepared_statement_is_sent_again_at_once_and_only_once() {
    let retry = Retry::new(WAIT, LIMIT);
    let started = Instant::now();
    let attempts = AtomicU32::new(0);
    let result: Result<(), _> = retry
        .run(Work::Statement, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            Err(failing(Unsettled::NotRun(NotRun::StatementGone)))
        })
        .await;
    assert!(result.is_err());
    assert_eq!(attempts.load(Ordering::Relaxed), 2);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn what_may_have_run_is_tried_again_only_under_a_key_and_a_success_ends_the_waiting() {
    let retry = Retry::new(WAIT, LIMIT);
    let attempts = AtomicU32::new(0);
    let result: Result<(), _> = retry
        .run(Work::Statement, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            Err(failing(Unsettled::MayHaveRun))
        })
        .await;
    assert!(result.is_err());
    assert_eq!(attempts.load(Ordering::Relaxed), 1);

    // Under a key, the claim of the next attempt settles it.
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let result = retry
        .run(Work::UnderKey, || async {
            match attempts.fetch_add(1, Ordering::Relaxed) {
                0 => Err(failing(Unsettled::MayHaveRun)),
                _ => Ok("replayed or made"),
            }
        })
        .await;
    assert_eq!(result.unwrap(), "replayed or made");
    assert_eq!(started.elapsed(), RETRY_EVERY);

    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let result = retry
        .run(Work::Statement, || async {
            match attempts.fetch_add(1, Ordering::Relaxed) {
                0..=4 => Err(no_server()),
                _ => Ok("the new primary"),
            }
        })
        .await;
    assert_eq!(result.unwrap(), "the new primary");
    assert_eq!(started.elapsed(), RETRY_EVERY * 5);
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_to_wait_nothing_waits() {
    let retry = Retry::none();
    let started = Instant::now();
    let result: Result<(), _> = retry
        .run(Work::Statement, || async { Err(no_server()) })
        .await;
    assert!(result.is_err());
    assert_eq!(started.elapsed(), Duration::ZERO);
}
