//! HTTP routes of the scores module and the one mapping from
//! [`ScoreError`] to a response (`{"error":{"code","rule","message"}}`,
//! with `Retry-After` on 429/503). Handlers only translate: bytes and
//! query strings in, typed calls to [`ScoresService`], JSON out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{ClaimInput, ScoreError, ScoresService};
use crate::events::now_ms;
use crate::store::{AuditQuery, CursorKey};

/// Default and largest page for leaderboard reads.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
/// Default and largest number of neighbours on each side for `around`.
const DEFAULT_SPAN: u32 = 5;
const MAX_SPAN: u32 = 50;
/// Past periods listed for a player.
const HISTORY: u32 = 30;
/// Audit rows per page.
const MAX_AUDIT: u32 = 500;

/// The scores routes, to be merged into the app router. Serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the client IP
/// is known.
pub fn router(service: Arc<ScoresService>) -> Router {
    Router::new()
        .route("/v1/scores", post(post_score))
        .route("/v1/leaderboards/{id}", get(get_top))
        .route("/v1/leaderboards/{id}/around/{address}", get(get_around))
        .route("/v1/leaderboards/{id}/players/{address}", get(get_player))
        .route("/v1/admin/audit", get(get_audit))
        .route("/v1/admin/deny", get(get_deny_list))
        .route(
            "/v1/admin/deny/{address}",
            put(put_deny).delete(delete_deny),
        )
        .with_state(service)
}

impl IntoResponse for ScoreError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"code": self.code(), "rule": self.rule(), "message": self.public_message()}});
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs() {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The client IP: the socket peer, or, when the peer is a trusted proxy,
/// the right-most `X-Forwarded-For` hop that is not itself a trusted proxy.
/// Anything unparseable stops the walk (the peer is used), so a client
/// cannot inject an address in front of the proxy's.
pub(crate) fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let Some(peer) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        hops.extend(text.split(',').map(str::trim));
    }
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

async fn post_score(State(service): State<Arc<ScoresService>>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let ip = client_ip(peer, &parts.headers, &service.trusted_proxies);
    let limit = service.max_body_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        // The limit is the only read failure a client still listening can
        // cause (a dropped connection never sees the answer).
        Err(_) => {
            let e = ScoreError::BodyTooLarge { limit };
            service.refuse_unparsed(&e, ip, now_ms());
            return e.into_response();
        }
    };
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let input = ClaimInput {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        headers: &headers,
        body: &bytes,
        ip,
    };
    match service.submit(input, now_ms()).await {
        Ok(accepted) => (StatusCode::CREATED, Json(accepted)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn parse_u32(
    q: &HashMap<String, String>,
    key: &str,
    default: u32,
    max: u32,
) -> Result<u32, ScoreError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ScoreError::BadRequest(format!(
                "{key} must be an integer in 1..={max}"
            ))),
        },
    }
}

/// `at` (Unix ms, any instant inside the wanted period; default now).
fn parse_at(q: &HashMap<String, String>) -> Result<i64, ScoreError> {
    match q.get("at") {
        None => Ok(i64::try_from(now_ms()).unwrap_or(i64::MAX)),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ScoreError::BadRequest("at must be Unix ms".into())),
    }
}

/// Addresses in paths: `0x` + 40 hex, any case; stored lower-case.
fn parse_address(raw: &str) -> Result<String, ScoreError> {
    let ok = raw.len() == 42
        && raw.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
        && raw.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(ScoreError::BadRequest(
            "address must be 0x followed by 40 hex digits".into(),
        ))
    }
}

/// Cursor text: `<value>.<achieved_ms>.<address>` of the last entry seen.
fn encode_cursor(k: &CursorKey) -> String {
    format!("{}.{}.{}", k.value, k.achieved_ms, k.address)
}

fn decode_cursor(s: &str) -> Result<CursorKey, ScoreError> {
    let bad = || ScoreError::BadRequest("invalid cursor".into());
    let mut it = s.splitn(3, '.');
    let value = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let achieved_ms = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let address = parse_address(it.next().ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(CursorKey {
        value,
        achieved_ms,
        address,
    })
}

fn board_header(board: &super::service::Board, period_start: i64) -> serde_json::Value {
    json!({
        "leaderboard": board.spec.id,
        "operator": board.spec.operator,
        "sort": board.spec.sort,
        "period": board.spec.period,
        "periodStart": period_start,
        "periodEnd": board.spec.period.end(period_start),
    })
}

async fn get_top(
    State(service): State<Arc<ScoresService>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ScoreError> {
    let board = service.board(&id)?;
    let limit = parse_u32(&q, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = q.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    let period_start = board.spec.period.start(parse_at(&q)?);
    let page = service
        .store()
        .top(&board.spec, period_start, limit, cursor.as_ref())
        .await?;
    let mut body = board_header(board, period_start);
    body["entries"] = json!(page.entries);
    body["nextCursor"] = json!(page.next.as_ref().map(encode_cursor));
    Ok(Json(body))
}

async fn get_around(
    State(service): State<Arc<ScoresService>>,
    Path((id, address)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ScoreError> {
    let board = service.board(&id)?;
    let address = parse_address(&address)?;
    let span = parse_u32(&q, "span", DEFAULT_SPAN, MAX_SPAN)?;
    let period_start = board.spec.period.start(parse_at(&q)?);
    let entries = service
        .store()
        .around(&board.spec, period_start, &address, span)
        .await?;
    let mut body = board_header(board, period_start);
    body["address"] = json!(address);
    body["entries"] = json!(entries);
    Ok(Json(body))
}

async fn get_player(
    State(service): State<Arc<ScoresService>>,
    Path((id, address)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ScoreError> {
    let board = service.board(&id)?;
    let address = parse_address(&address)?;
    let period_start = board.spec.period.start(parse_at(&q)?);
    let current = service
        .store()
        .player_entry(&board.spec, period_start, &address)
        .await?;
    let history = service
        .store()
        .player_history(&board.spec, &address, HISTORY)
        .await?;
    let history: Vec<_> = history
        .into_iter()
        .map(|(start, e)| {
            json!({"periodStart": start, "value": e.value, "achievedMs": e.achieved_ms,
                   "updatedMs": e.updated_ms, "submissions": e.submissions})
        })
        .collect();
    let mut body = board_header(board, period_start);
    body["address"] = json!(address);
    body["current"] = json!(current);
    body["history"] = json!(history);
    Ok(Json(body))
}

/// Constant-time comparison, so the token cannot be guessed byte by byte
/// from response times.
fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Admin routes: 404 when no token is configured (they do not exist), 401
/// on a missing or wrong bearer token.
fn require_admin(service: &ScoresService, headers: &HeaderMap) -> Result<(), ScoreError> {
    let Some(expected) = &service.admin_token else {
        return Err(ScoreError::NotFound);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .ok_or(ScoreError::Unauthorized)?;
    if token_matches(given, expected.as_bytes()) {
        Ok(())
    } else {
        Err(ScoreError::Unauthorized)
    }
}

async fn get_audit(
    State(service): State<Arc<ScoresService>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ScoreError> {
    require_admin(&service, &headers)?;
    let before = match q.get("before") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ScoreError::BadRequest("before must be an id".into()))?,
        ),
    };
    let address = q.get("address").map(|a| parse_address(a)).transpose()?;
    let query = AuditQuery {
        before,
        address,
        rule: q.get("rule").cloned(),
        limit: parse_u32(&q, "limit", 100, MAX_AUDIT)?,
    };
    let rows = service.store().audit(&query).await?;
    Ok(Json(json!({ "entries": rows })))
}

async fn get_deny_list(
    State(service): State<Arc<ScoresService>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ScoreError> {
    require_admin(&service, &headers)?;
    Ok(Json(
        json!({ "entries": service.store().deny_list().await? }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    #[serde(default)]
    reason: String,
}

async fn put_deny(
    State(service): State<Arc<ScoresService>>,
    Path(address): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ScoreError> {
    require_admin(&service, &headers)?;
    let address = parse_address(&address)?;
    let bytes =
        to_bytes(body, service.max_body_bytes)
            .await
            .map_err(|_| ScoreError::BodyTooLarge {
                limit: service.max_body_bytes,
            })?;
    let body: DenyBody = if bytes.is_empty() {
        DenyBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ScoreError::BadRequest(e.to_string()))?
    };
    let at = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    service.store().deny(&address, &body.reason, at).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_deny(
    State(service): State<Arc<ScoresService>>,
    Path(address): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScoreError> {
    require_admin(&service, &headers)?;
    let address = parse_address(&address)?;
    if service.store().undeny(&address).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ScoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4"),
        );
        let proxy = ip("10.0.0.1");
        // Untrusted peer: its header is ignored.
        assert_eq!(client_ip(Some(ip("9.9.9.9")), &h, &[proxy]), ip("9.9.9.9"));
        // Trusted peer: the right-most hop it saw (a client-injected first hop is ignored).
        assert_eq!(client_ip(Some(proxy), &h, &[proxy]), ip("1.2.3.4"));
        // Chained trusted proxies are skipped.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.2"),
        );
        assert_eq!(
            client_ip(Some(proxy), &h, &[proxy, ip("10.0.0.2")]),
            ip("1.2.3.4")
        );
        // Garbage stops the walk at the peer.
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4, junk"));
        assert_eq!(client_ip(Some(proxy), &h, &[proxy]), proxy);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let k = CursorKey {
            value: -5,
            achieved_ms: 123,
            address: format!("0x{}", "ab".repeat(20)),
        };
        assert_eq!(decode_cursor(&encode_cursor(&k)).expect("round trip"), k);
        assert!(decode_cursor("1.2").is_err());
        assert!(decode_cursor("x.2.0xab").is_err());
    }

    #[test]
    fn admin_token_comparison() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secreT", b"secret"));
        assert!(!token_matches(b"secret1", b"secret"));
    }
}
