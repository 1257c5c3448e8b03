//! Leaderboard storage on every backend: operators, sort, ties, periods,
//! pagination, `around`, one claim per session, the daily cap, concurrent
//! writers, and room events (seats, awards) through the event writer.

mod scores_common;

use std::sync::Arc;

use plaza::store::{
    BoardSpec, CursorKey, NewScore, Operator, Period, RecordError, SeatChange, SeatRecord, Source,
    Store,
};
use scores_common::{addr, backends};

const DAY: i64 = 86_400_000;
// 2026-12-02T10:00:00Z.
const T0: i64 = 1_796_205_600_000;

fn board(id: &str, operator: Operator, sort: Sort, period: Period) -> BoardSpec {
    BoardSpec {
        id: id.into(),
        operator,
        sort,
        period,
    }
}
use plaza::store::Sort;

async fn put(
    store: &Store,
    b: &BoardSpec,
    who: u32,
    score: i64,
    at: i64,
) -> plaza::store::Recorded {
    store
        .record_score(&NewScore {
            board: b,
            address: &addr(who),
            score,
            session: None,
            source: Source::Claim,
            metadata: None,
            ip: None,
            at_ms: at,
            daily_cap: None,
        })
        .await
        .expect("recorded")
}

async fn top_values(store: &Store, b: &BoardSpec, at: i64) -> Vec<(u64, String, i64)> {
    let page = store
        .top(b, b.period.start(at), 100, None)
        .await
        .expect("top");
    page.entries
        .into_iter()
        .map(|e| (e.rank, e.entry.address, e.entry.value))
        .collect()
}

#[tokio::test]
async fn operators_and_sort_orders_rank_correctly() {
    for be in backends().await {
        let s = &be.store;
        let best = board("best", Operator::Best, Sort::Desc, Period::All);
        let fastest = board("fastest", Operator::Best, Sort::Asc, Period::All);
        let latest = board("latest", Operator::Latest, Sort::Desc, Period::All);
        let sum = board("sum", Operator::Sum, Sort::Desc, Period::All);
        for b in [&best, &fastest, &latest, &sum] {
            put(s, b, 1, 50, T0).await;
            put(s, b, 2, 70, T0 + 1).await;
            put(s, b, 1, 30, T0 + 2).await;
            put(s, b, 3, 60, T0 + 3).await;
        }
        let (a1, a2, a3) = (addr(1), addr(2), addr(3));
        assert_eq!(
            top_values(s, &best, T0).await,
            vec![
                (1, a2.clone(), 70),
                (2, a3.clone(), 60),
                (3, a1.clone(), 50)
            ],
            "{}: best keeps the max",
            be.name
        );
        assert_eq!(
            top_values(s, &fastest, T0).await,
            vec![
                (1, a1.clone(), 30),
                (2, a3.clone(), 60),
                (3, a2.clone(), 70)
            ],
            "{}: best asc keeps the min",
            be.name
        );
        assert_eq!(
            top_values(s, &latest, T0).await,
            vec![
                (1, a2.clone(), 70),
                (2, a3.clone(), 60),
                (3, a1.clone(), 30)
            ],
            "{}: latest replaces",
            be.name
        );
        assert_eq!(
            top_values(s, &sum, T0).await,
            vec![
                (1, a1.clone(), 80),
                (2, a2.clone(), 70),
                (3, a3.clone(), 60)
            ],
            "{}: sum adds",
            be.name
        );
        let entry = s
            .player_entry(&sum, 0, &a1)
            .await
            .expect("read")
            .expect("present");
        assert_eq!((entry.rank, entry.entry.submissions), (1, 2), "{}", be.name);
    }
}

#[tokio::test]
async fn ties_rank_the_earliest_first_and_a_worse_score_keeps_the_time() {
    for be in backends().await {
        let s = &be.store;
        let b = board("ties", Operator::Best, Sort::Desc, Period::All);
        put(s, &b, 9, 100, T0 + 10).await; // reaches 100 last
        put(s, &b, 5, 100, T0).await; // reaches 100 first
        put(s, &b, 7, 100, T0 + 5).await;
        // A later, worse score must not move player 5's achievement time.
        let r = put(s, &b, 5, 90, T0 + 20).await;
        assert_eq!(
            (r.entry.rank, r.entry.entry.value, r.entry.entry.achieved_ms),
            (1, 100, T0),
            "{}",
            be.name
        );
        // An equal score is not an improvement either.
        put(s, &b, 7, 100, T0 + 30).await;
        let order: Vec<String> = top_values(s, &b, T0)
            .await
            .into_iter()
            .map(|(_, a, _)| a)
            .collect();
        assert_eq!(order, vec![addr(5), addr(7), addr(9)], "{}", be.name);
    }
}

#[tokio::test]
async fn daily_and_weekly_periods_reset_and_keep_the_past() {
    for be in backends().await {
        let s = &be.store;
        let daily = board("daily", Operator::Sum, Sort::Desc, Period::Daily);
        let weekly = board("weekly", Operator::Sum, Sort::Desc, Period::Weekly);
        for b in [&daily, &weekly] {
            put(s, b, 1, 10, T0).await; // Wednesday
            put(s, b, 2, 5, T0).await;
            put(s, b, 2, 20, T0 + DAY).await; // Thursday
            put(s, b, 1, 1, T0 + 6 * DAY).await; // next Tuesday
        }
        assert_eq!(
            top_values(s, &daily, T0).await,
            vec![(1, addr(1), 10), (2, addr(2), 5)],
            "{}",
            be.name
        );
        assert_eq!(
            top_values(s, &daily, T0 + DAY).await,
            vec![(1, addr(2), 20)],
            "{}",
            be.name
        );
        // Same week: Wednesday + Thursday add up.
        assert_eq!(
            top_values(s, &weekly, T0).await,
            vec![(1, addr(2), 25), (2, addr(1), 10)],
            "{}",
            be.name
        );
        assert_eq!(
            top_values(s, &weekly, T0 + 6 * DAY).await,
            vec![(1, addr(1), 1)],
            "{}",
            be.name
        );
        let history = s
            .player_history(&daily, &addr(1), 10)
            .await
            .expect("history");
        let starts: Vec<i64> = history.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            starts,
            vec![Period::Daily.start(T0 + 6 * DAY), Period::Daily.start(T0)],
            "{}",
            be.name
        );
    }
}

#[tokio::test]
async fn pages_and_around_agree_with_ranks() {
    for be in backends().await {
        let s = &be.store;
        let b = board("pages", Operator::Best, Sort::Desc, Period::All);
        for n in 1..=25u32 {
            put(s, &b, n, i64::from(n % 7) * 10, T0 + i64::from(n)).await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<CursorKey> = None;
        loop {
            let page = s.top(&b, 0, 10, cursor.as_ref()).await.expect("page");
            seen.extend(
                page.entries
                    .iter()
                    .map(|e| (e.rank, e.entry.address.clone(), e.entry.value)),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25, "{}", be.name);
        let ranks: Vec<u64> = seen.iter().map(|(r, _, _)| *r).collect();
        assert_eq!(
            ranks,
            (1..=25).collect::<Vec<u64>>(),
            "{}: ranks continue across pages",
            be.name
        );
        assert!(
            seen.windows(2).all(|w| w[0].2 >= w[1].2),
            "{}: sorted desc",
            be.name
        );
        // Every player's own rank equals their position in the full listing.
        for (rank, address, _) in &seen {
            let me = s
                .player_entry(&b, 0, address)
                .await
                .expect("read")
                .expect("present");
            assert_eq!(me.rank, *rank, "{}: {address}", be.name);
        }
        let (rank, address, _) = &seen[12];
        let around = s.around(&b, 0, address, 2).await.expect("around");
        let got: Vec<(u64, String)> = around
            .into_iter()
            .map(|e| (e.rank, e.entry.address))
            .collect();
        let want: Vec<(u64, String)> = seen[10..15]
            .iter()
            .map(|(r, a, _)| (*r, a.clone()))
            .collect();
        assert_eq!(got, want, "{}: around rank {rank}", be.name);
        let edge = s.around(&b, 0, &seen[0].1, 3).await.expect("around top");
        assert_eq!(edge.first().map(|e| e.rank), Some(1), "{}", be.name);
        assert_eq!(edge.len(), 4, "{}", be.name);
        assert!(s
            .around(&b, 0, &addr(999), 3)
            .await
            .expect("around absent")
            .is_empty());
    }
}

#[tokio::test]
async fn one_claim_per_session_and_the_daily_cap_hold_in_the_transaction() {
    for be in backends().await {
        let s = &be.store;
        let b = board("guarded", Operator::Best, Sort::Desc, Period::All);
        let me = addr(1);
        let claim = |session: &'static str, at: i64| NewScore {
            board: &b,
            address: &me,
            score: 1,
            session: Some(session),
            source: Source::Claim,
            metadata: Some("{\"lap\":3}"),
            ip: Some("127.0.0.1"),
            at_ms: at,
            daily_cap: Some((2, plaza::store::day_start(at))),
        };
        s.record_score(&claim("s1", T0)).await.expect("first");
        let dup = s.record_score(&claim("s1", T0 + 1)).await;
        assert!(
            matches!(dup, Err(RecordError::DuplicateSession)),
            "{}: {dup:?}",
            be.name
        );
        s.record_score(&claim("s2", T0 + 2)).await.expect("second");
        let capped = s.record_score(&claim("s3", T0 + 3)).await;
        assert!(
            matches!(capped, Err(RecordError::DailyCap { cap: 2 })),
            "{}: {capped:?}",
            be.name
        );
        // The next UTC day has a fresh cap.
        s.record_score(&claim("s3", T0 + DAY))
            .await
            .expect("next day");
        // Awards are neither unique per session nor capped.
        for _ in 0..3 {
            let award = NewScore {
                source: Source::Award,
                daily_cap: None,
                ..claim("s1", T0 + 5)
            };
            s.record_score(&award).await.expect("award");
        }
        assert_eq!(
            s.count_scores("guarded", &me).await.expect("count"),
            6,
            "{}",
            be.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_from_many_addresses_keep_ranks_consistent() {
    for be in backends().await {
        let b = Arc::new(board("busy", Operator::Best, Sort::Desc, Period::All));
        let mut tasks = Vec::new();
        for n in 0..200u32 {
            let store = be.store.clone();
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                // Several submissions per address, interleaved with others.
                for k in 0..3u32 {
                    let score = i64::from((n * 7919 + k * 104_729) % 1000);
                    put(&store, &b, n, score, T0 + i64::from(k)).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let page = be.store.top(&b, 0, 100, None).await.expect("top");
        let mut all = page.entries;
        let more = be
            .store
            .top(&b, 0, 100, page.next.as_ref())
            .await
            .expect("page 2");
        all.extend(more.entries);
        assert_eq!(all.len(), 200, "{}", be.name);
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.rank, i as u64 + 1, "{}", be.name);
            assert_eq!(e.entry.submissions, 3, "{}", be.name);
        }
        for w in all.windows(2) {
            let (a, b) = (&w[0].entry, &w[1].entry);
            assert!(
                (a.value, -a.achieved_ms) >= (b.value, -b.achieved_ms),
                "{}: {a:?} before {b:?}",
                be.name
            );
        }
        // Each entry holds the best of its three submissions.
        for e in &all {
            let n = u32::from_str_radix(e.entry.address.trim_start_matches("0x"), 16).expect("hex");
            let best = (0..3u32)
                .map(|k| i64::from((n * 7919 + k * 104_729) % 1000))
                .max()
                .expect("3");
            assert_eq!(e.entry.value, best, "{}", be.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_in_a_concurrent_batch_roll_back_alone() {
    for be in backends().await {
        let b = Arc::new(board("batch", Operator::Sum, Sort::Desc, Period::All));
        let mut tasks = Vec::new();
        for n in 0..60u32 {
            let store = be.store.clone();
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                // Even tasks all claim session "shared"; odd ones their own.
                let session = if n % 2 == 0 {
                    "shared".to_owned()
                } else {
                    format!("own-{n}")
                };
                let address = addr(n % 4);
                store
                    .record_score(&NewScore {
                        board: &b,
                        address: &address,
                        score: 1,
                        session: Some(&session),
                        source: Source::Claim,
                        metadata: None,
                        ip: None,
                        at_ms: T0,
                        daily_cap: None,
                    })
                    .await
            }));
        }
        let mut ok = 0;
        let mut dup = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => ok += 1,
                Err(RecordError::DuplicateSession) => dup += 1,
                Err(e) => panic!("{}: unexpected {e}", be.name),
            }
        }
        assert_eq!((ok, dup), (31, 29), "{}", be.name);
        // The sums hold exactly the accepted writes.
        let page = be.store.top(&b, 0, 10, None).await.expect("top");
        let total: i64 = page.entries.iter().map(|e| e.entry.value).sum();
        assert_eq!(total, 31, "{}", be.name);
        let stored = be.store.scores_by_session("batch").await.expect("rows");
        assert_eq!(stored.len(), 31, "{}", be.name);
    }
}

fn open(n: u32, joined_ms: i64) -> SeatChange {
    SeatChange::Open(SeatRecord {
        seat: format!("seat-{n}"),
        address: addr(n),
        room: format!("room-{}", n / 16),
        room_type: "arena".into(),
        joined_ms,
        left_ms: None,
    })
}

fn close(n: u32, left_ms: i64) -> SeatChange {
    SeatChange::Close {
        seat: format!("seat-{n}"),
        left_ms,
    }
}

/// Seat batches are written as multi-row statements (500 rows each); the
/// result must be what applying each change in order gives: a known seat is
/// never overwritten, the first close wins, unknown closes change nothing.
#[tokio::test]
async fn seat_batches_apply_as_if_one_by_one() {
    for be in backends().await {
        let s = &be.store;
        let mut batch: Vec<SeatChange> = (0..1200).map(|n| open(n, T0 + i64::from(n))).collect();
        batch.push(open(5, T0 - 1)); // already there: ignored
        batch.extend((0..600).map(|n| close(n, T0 + 10_000)));
        batch.push(close(3, T0 + 20_000)); // closed already: ignored
        batch.push(close(99_999, T0)); // unknown: nothing
        batch.push(open(2000, T0));
        batch.push(close(2000, T0 + 1));
        batch.push(close(2000, T0 + 2));
        batch.push(open(2000, T0 + 3)); // reopened id: ignored
        s.apply_seats(&batch).await.expect("apply batch");
        // A second batch, retried whole: the same result.
        s.apply_seats(&batch).await.expect("apply batch again");
        s.apply_seats(&[close(700, T0 + 30_000), close(3, T0 + 40_000)])
            .await
            .expect("apply closes");

        let seat = |n: u32| async move { s.seat(&format!("seat-{n}")).await.expect("read seat") };
        let five = seat(5).await.expect("seat 5");
        assert_eq!(
            (five.joined_ms, five.left_ms),
            (T0 + 5, Some(T0 + 10_000)),
            "{}",
            be.name
        );
        assert_eq!(five.address, addr(5));
        assert_eq!(five.room, "room-0");
        assert_eq!(
            seat(3).await.expect("seat 3").left_ms,
            Some(T0 + 10_000),
            "{}",
            be.name
        );
        assert_eq!(seat(599).await.expect("599").left_ms, Some(T0 + 10_000));
        assert_eq!(seat(600).await.expect("600").left_ms, None, "{}", be.name);
        assert_eq!(seat(700).await.expect("700").left_ms, Some(T0 + 30_000));
        assert_eq!(seat(1199).await.expect("1199").joined_ms, T0 + 1199);
        assert!(seat(1200).await.is_none());
        assert!(seat(99_999).await.is_none());
        let reopened = seat(2000).await.expect("seat 2000");
        assert_eq!(
            (reopened.joined_ms, reopened.left_ms),
            (T0, Some(T0 + 1)),
            "{}",
            be.name
        );
    }
}
