//! `POST /v1/scores` and the leaderboard routes over real HTTP with real
//! signatures: the accepted path, and each anti-farming rule's refusal with
//! its status, code and rule, plus the audit log and the admin routes.

mod scores_common;

use plaza::events::now_ms;
use reqwest::Method;
use scores_common::http::{claim, scene_metadata, serve, serve_with, sign, Player, Server, ADMIN};
use scores_common::{postgres, sqlite};

/// `main`: arena sessions only, 10 points/s, 1 s minimum play, scene-a only.
/// `open`: no session needed. `limited`: 2 claims/min/address.
/// `capped`: 2 claims/day. `laps`: fastest time wins.
const BOARDS: &str = r#"
[[leaderboards]]
id = "main"
rules = { room_types = ["arena"], max_per_second = 10.0, min_play_ms = 1000, policy = { require_kernel_scene = true, reject_guests = true, require_hash_payload = true, scene_ids = ["scene-a"] } }

[[leaderboards]]
id = "open"
operator = "sum"
rules = { require_session = false }

[[leaderboards]]
id = "limited"
rules = { require_session = false, per_address_per_minute = 2 }

[[leaderboards]]
id = "capped"
rules = { require_session = false, daily_cap = 2 }

[[leaderboards]]
id = "laps"
sort = "asc"
period = "daily"
rules = { require_session = false }
"#;

async fn server() -> Server {
    serve(sqlite().await, BOARDS).await
}

fn assert_refused(
    got: &(u16, serde_json::Value, Option<String>),
    status: u16,
    code: &str,
    rule: &str,
) {
    let (s, body, _) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["rule"], rule, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn accepted_path(server: &Server) {
    let p = Player::new();
    server
        .open_seat("seat-ok", &p.address, "arena", now_ms() - 60_000)
        .await;
    let (status, body, _) = server.post(&p, &claim("main", 420, Some("seat-ok"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["address"], p.address.as_str());
    assert_eq!(body["score"], 420);
    assert_eq!(body["rank"], 1);
    assert_eq!(body["session"], "seat-ok");
    let (status, top) = server.get("/v1/leaderboards/main").await;
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["entries"][0]["address"], p.address.as_str());
    assert_eq!(top["entries"][0]["value"], 420);
    let (_, around) = server
        .get(&format!("/v1/leaderboards/main/around/{}", p.address))
        .await;
    assert_eq!(around["entries"][0]["rank"], 1, "{around}");
    let (_, me) = server
        .get(&format!("/v1/leaderboards/main/players/{}", p.address))
        .await;
    assert_eq!(me["current"]["value"], 420, "{me}");
    assert_eq!(
        server
            .store
            .count_scores("main", &p.address)
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn accepted_claim_is_stored_ranked_and_readable() {
    accepted_path(&server().await).await;
}

#[tokio::test]
async fn accepted_claim_on_postgres() {
    if let Some(pg) = postgres().await {
        accepted_path(&serve(pg, BOARDS).await).await;
    }
}

#[tokio::test]
async fn replayed_request_is_refused() {
    let s = server().await;
    let p = Player::new();
    let body = claim("open", 5, None);
    let headers = sign(
        &p,
        &body,
        now_ms(),
        &scene_metadata("scene-a", false, &body),
    );
    assert_eq!(s.post_raw(&headers, &body).await.0, 201);
    assert_refused(
        &s.post_raw(&headers, &body).await,
        401,
        "auth_replayed",
        "replay",
    );
    assert_eq!(
        s.store
            .count_scores("open", &p.address)
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn future_and_expired_timestamps_are_refused() {
    let s = server().await;
    let p = Player::new();
    let body = claim("open", 5, None);
    let meta = scene_metadata("scene-a", false, &body);
    let future = sign(&p, &body, now_ms() + 120_000, &meta);
    assert_refused(
        &s.post_raw(&future, &body).await,
        401,
        "auth_future_timestamp",
        "time_window",
    );
    let old = sign(&p, &body, now_ms() - 120_000, &meta);
    assert_refused(
        &s.post_raw(&old, &body).await,
        401,
        "auth_expired",
        "time_window",
    );
}

#[tokio::test]
async fn body_swapped_under_a_valid_signature_is_refused() {
    let s = server().await;
    let p = Player::new();
    let signed_body = claim("open", 5, None);
    let headers = sign(
        &p,
        &signed_body,
        now_ms(),
        &scene_metadata("scene-a", false, &signed_body),
    );
    let swapped = claim("open", 5_000, None);
    assert_refused(
        &s.post_raw(&headers, &swapped).await,
        401,
        "auth_body_hash_mismatch",
        "hash_payload",
    );
    // Unbound (no hashPayload) is refused by the policy too.
    let unbound = r#"{"sceneId":"scene-a","isGuest":false,"signer":"decentraland-kernel-scene"}"#;
    let headers = sign(&p, &swapped, now_ms(), unbound);
    let got = s.post_raw(&headers, &swapped).await;
    assert_eq!(got.1["error"]["rule"], "hash_payload", "{}", got.1);
    assert_eq!(
        s.store
            .count_scores("open", &p.address)
            .await
            .expect("count"),
        0
    );
}

#[tokio::test]
async fn forged_signature_is_refused() {
    let s = server().await;
    let p = Player::new();
    let body = claim("open", 5, None);
    let mut headers = sign(
        &p,
        &body,
        now_ms(),
        &scene_metadata("scene-a", false, &body),
    );
    // Claim to be another wallet with this key's delegation.
    let other = Player::new();
    for (k, v) in headers.iter_mut() {
        if k == "x-identity-auth-chain-0" {
            *v = v.replace(&p.identity.address(), &other.identity.address());
        }
    }
    let got = s.post_raw(&headers, &body).await;
    assert_eq!(got.0, 401, "{}", got.1);
    assert_eq!(got.1["error"]["rule"], "signature", "{}", got.1);
}

#[tokio::test]
async fn guests_and_other_scenes_are_refused_by_the_metadata_policy() {
    let s = server().await;
    let p = Player::new();
    s.open_seat("seat-g", &p.address, "arena", now_ms() - 60_000)
        .await;
    let body = claim("main", 1, Some("seat-g"));
    let guest = sign(&p, &body, now_ms(), &scene_metadata("scene-a", true, &body));
    assert_refused(
        &s.post_raw(&guest, &body).await,
        403,
        "auth_policy_denied",
        "metadata",
    );
    let elsewhere = sign(
        &p,
        &body,
        now_ms(),
        &scene_metadata("scene-b", false, &body),
    );
    assert_refused(
        &s.post_raw(&elsewhere, &body).await,
        403,
        "auth_policy_denied",
        "metadata",
    );
    let not_scene = format!(
        r#"{{"sceneId":"scene-a","isGuest":false,"signer":"dcl:explorer","hashPayload":"{}"}}"#,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()))
    );
    let headers = sign(&p, &body, now_ms(), &not_scene);
    assert_refused(
        &s.post_raw(&headers, &body).await,
        403,
        "auth_policy_denied",
        "metadata",
    );
}

#[tokio::test]
async fn session_rules_refuse_missing_unknown_foreign_wrong_type_short_and_double() {
    session_rules(&server().await).await;
}

#[tokio::test]
async fn session_rules_and_daily_cap_on_postgres() {
    if let Some(pg) = postgres().await {
        let s = serve(pg, BOARDS).await;
        session_rules(&s).await;
        let p = Player::new();
        assert_eq!(s.post(&p, &claim("capped", 1, None)).await.0, 201);
        assert_eq!(s.post(&p, &claim("capped", 2, None)).await.0, 201);
        assert_refused(
            &s.post(&p, &claim("capped", 3, None)).await,
            429,
            "daily_cap",
            "daily_cap",
        );
    }
}

async fn session_rules(s: &Server) {
    let me = Player::new();
    let other = Player::new();
    let now = now_ms();
    s.open_seat("seat-me", &me.address, "arena", now - 60_000)
        .await;
    s.open_seat("seat-other", &other.address, "arena", now - 60_000)
        .await;
    s.open_seat("seat-lobby", &me.address, "lobby", now - 60_000)
        .await;
    s.open_seat("seat-new", &me.address, "arena", now).await;

    assert_refused(
        &s.post(&me, &claim("main", 1, None)).await,
        422,
        "session_required",
        "session",
    );
    assert_refused(
        &s.post(&me, &claim("main", 1, Some("seat-nope"))).await,
        422,
        "session_unknown",
        "session",
    );
    assert_refused(
        &s.post(&me, &claim("main", 1, Some("seat-other"))).await,
        422,
        "session_not_yours",
        "session",
    );
    assert_refused(
        &s.post(&me, &claim("main", 1, Some("seat-lobby"))).await,
        422,
        "session_room_type",
        "session",
    );
    assert_refused(
        &s.post(&me, &claim("main", 0, Some("seat-new"))).await,
        422,
        "play_time_too_short",
        "min_play_time",
    );
    // 60 s at 10/s: 600 is the most a player could have earned.
    assert_refused(
        &s.post(&me, &claim("main", 5_000, Some("seat-me"))).await,
        422,
        "score_implausible",
        "plausibility",
    );
    assert_eq!(
        s.post(&me, &claim("main", 600, Some("seat-me"))).await.0,
        201
    );
    assert_refused(
        &s.post(&me, &claim("main", 10, Some("seat-me"))).await,
        409,
        "session_duplicate",
        "session",
    );
    assert_eq!(
        s.store
            .count_scores("main", &me.address)
            .await
            .expect("count"),
        1
    );
}

/// A claim sent the moment `joined` arrives names a seat whose `SeatOpened`
/// may still sit in the room-event queue behind a burst of other joins: it
/// must be judged on the seat, not refused as unknown. Before the claim path
/// waited for the queue, this answered 422 session_unknown.
async fn claim_right_after_join(s: &Server) {
    let me = Player::new();
    let now = now_ms();
    for i in 0..20_000 {
        s.sink.emit(plaza::events::PlazaEvent::SeatOpened {
            seat: format!("burst-{i}"),
            address: me.address.clone(),
            room: "room-burst".into(),
            room_type: "arena".into(),
            at_ms: now,
        });
    }
    s.sink.emit(plaza::events::PlazaEvent::SeatOpened {
        seat: "seat-fresh".into(),
        address: me.address.clone(),
        room: "room-fresh".into(),
        room_type: "arena".into(),
        at_ms: now - 60_000,
    });
    let got = s.post(&me, &claim("main", 100, Some("seat-fresh"))).await;
    assert_eq!(got.0, 201, "{}", got.1);
    // A seat nobody opened is still unknown once the queue is drained.
    assert_refused(
        &s.post(&me, &claim("main", 1, Some("seat-never"))).await,
        422,
        "session_unknown",
        "session",
    );
}

#[tokio::test]
async fn a_claim_sent_right_after_join_waits_for_the_queued_seat() {
    claim_right_after_join(&server().await).await;
}

#[tokio::test]
async fn a_claim_sent_right_after_join_waits_for_the_queued_seat_on_postgres() {
    if let Some(pg) = postgres().await {
        claim_right_after_join(&serve(pg, BOARDS).await).await;
    }
}

#[tokio::test]
async fn rate_limit_and_daily_cap_answer_429_with_retry_after() {
    let s = server().await;
    let p = Player::new();
    assert_eq!(s.post(&p, &claim("limited", 1, None)).await.0, 201);
    assert_eq!(s.post(&p, &claim("limited", 2, None)).await.0, 201);
    let got = s.post(&p, &claim("limited", 3, None)).await;
    assert_refused(&got, 429, "rate_limited_address", "rate_limit");
    let retry: u64 = got
        .2
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");

    assert_eq!(s.post(&p, &claim("capped", 1, None)).await.0, 201);
    assert_eq!(s.post(&p, &claim("capped", 2, None)).await.0, 201);
    let got = s.post(&p, &claim("capped", 3, None)).await;
    assert_refused(&got, 429, "daily_cap", "daily_cap");
    let retry: u64 = got
        .2
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("Retry-After");
    assert!((1..=86_400).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn deny_listed_address_is_refused_and_admin_routes_need_the_token() {
    let s = server().await;
    let p = Player::new();
    let path = format!("/v1/admin/deny/{}", p.address);
    assert_eq!(s.admin(Method::PUT, &path, None).await.0, 401);
    assert_eq!(s.admin(Method::PUT, &path, Some("wrong")).await.0, 401);
    assert_eq!(s.admin(Method::PUT, &path, Some(ADMIN)).await.0, 204);
    let (_, list) = s.admin(Method::GET, "/v1/admin/deny", Some(ADMIN)).await;
    assert_eq!(list["entries"][0]["address"], p.address.as_str(), "{list}");
    assert_refused(
        &s.post(&p, &claim("open", 1, None)).await,
        403,
        "address_denied",
        "deny_list",
    );
    assert_eq!(s.admin(Method::DELETE, &path, Some(ADMIN)).await.0, 204);
    assert_eq!(s.post(&p, &claim("open", 1, None)).await.0, 201);
    assert_eq!(s.admin(Method::DELETE, &path, Some(ADMIN)).await.0, 404);

    let hit = s.audited("address_denied").await;
    assert_eq!(hit["rule"], "deny_list");
    assert_eq!(hit["address"], p.address.as_str());
    assert_eq!(hit["ip"], "127.0.0.1");
    assert!(
        hit["summary"]
            .as_str()
            .is_some_and(|x| x.contains("leaderboard=open")),
        "{hit}"
    );
}

#[tokio::test]
async fn admin_routes_do_not_exist_without_a_token() {
    let s = serve_with(sqlite().await, BOARDS, |c| c.server.admin_token = None).await;
    assert_eq!(
        s.admin(Method::GET, "/v1/admin/audit", Some(ADMIN)).await.0,
        404
    );
    assert_eq!(s.admin(Method::GET, "/v1/admin/deny", None).await.0, 404);
}

#[tokio::test]
async fn malformed_unknown_and_oversized_requests() {
    let s = server().await;
    let p = Player::new();
    assert_refused(
        &s.post(&p, "{not json").await,
        400,
        "bad_request",
        "request",
    );
    assert_refused(
        &s.post(&p, r#"{"leaderboard":"open"}"#).await,
        400,
        "bad_request",
        "request",
    );
    assert_refused(
        &s.post(&p, r#"{"leaderboard":"open","score":1.5}"#).await,
        400,
        "invalid_score",
        "request",
    );
    let too_big = r#"{"leaderboard":"open","score":9007199254740992}"#;
    assert_refused(&s.post(&p, too_big).await, 400, "invalid_score", "request");
    assert_eq!(
        s.post(&p, r#"{"leaderboard":"open","score":-9007199254740991}"#)
            .await
            .0,
        201
    );
    assert_refused(
        &s.post(&p, &claim("nope", 1, None)).await,
        404,
        "unknown_leaderboard",
        "leaderboard",
    );
    let huge = format!(
        r#"{{"leaderboard":"open","score":1,"metadata":"{}"}}"#,
        "x".repeat(20_000)
    );
    assert_refused(&s.post(&p, &huge).await, 413, "body_too_large", "request");
    assert_eq!(s.get("/v1/leaderboards/nope").await.0, 404);
    assert_eq!(s.get("/v1/leaderboards/open?limit=0").await.0, 400);
    assert_eq!(s.get("/v1/leaderboards/open/players/0x12").await.0, 400);
    s.audited("invalid_score").await;
}

#[tokio::test]
async fn forwarded_for_is_trusted_only_from_configured_proxies() {
    let s = serve_with(sqlite().await, BOARDS, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let p = Player::new();
    let body = claim("nope", 1, None);
    let mut headers = sign(
        &p,
        &body,
        now_ms(),
        &scene_metadata("scene-a", false, &body),
    );
    headers.push(("x-forwarded-for".into(), "6.6.6.6, 203.0.113.7".into()));
    assert_eq!(s.post_raw(&headers, &body).await.0, 404);
    let hit = s.audited("unknown_leaderboard").await;
    assert_eq!(hit["ip"], "203.0.113.7", "{hit}");
}

#[tokio::test]
async fn awards_from_rooms_rank_with_claims_and_pages_follow_cursors() {
    let s = server().await;
    let players: Vec<Player> = (0..5).map(|_| Player::new()).collect();
    for (i, p) in players.iter().enumerate() {
        // `laps` sorts ascending: lower is better.
        s.sink.emit(plaza::events::PlazaEvent::Award {
            leaderboard: "laps".into(),
            address: p.address.clone(),
            score: 100 + i as i64,
            seat: format!("seat-award-{i}"),
            at_ms: now_ms(),
        });
    }
    let late = Player::new();
    assert_eq!(s.post(&late, &claim("laps", 50, None)).await.0, 201);
    let mut total = 0;
    for _ in 0..200 {
        let (_, top) = s.get("/v1/leaderboards/laps?limit=100").await;
        total = top["entries"].as_array().map(|a| a.len()).unwrap_or(0);
        if total == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(total, 6);
    let (_, page1) = s.get("/v1/leaderboards/laps?limit=4").await;
    assert_eq!(
        page1["entries"][0]["address"],
        late.address.as_str(),
        "{page1}"
    );
    assert_eq!(page1["entries"][1]["value"], 100, "{page1}");
    assert_eq!(page1["period"], "daily");
    let cursor = page1["nextCursor"].as_str().expect("cursor");
    let (_, page2) = s
        .get(&format!("/v1/leaderboards/laps?limit=4&cursor={cursor}"))
        .await;
    let ranks: Vec<u64> = page2["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["rank"].as_u64().expect("rank"))
        .collect();
    assert_eq!(ranks, vec![5, 6], "{page2}");
    assert!(page2["nextCursor"].is_null());
    // Yesterday is a different (empty) period.
    let (_, yesterday) = s
        .get(&format!(
            "/v1/leaderboards/laps?at={}",
            now_ms() - 86_400_000
        ))
        .await;
    assert_eq!(
        yesterday["entries"].as_array().map(|a| a.len()),
        Some(0),
        "{yesterday}"
    );
}
