//! Optional in-world presence check: is the claimant connected to comms and
//! standing near the parcel their signed metadata names? This is what
//! Decentraland's validate-player-authenticity example does with
//! `/comms/peers`, with its weakness fixed: the peers URL comes from config,
//! never from the (attacker-chosen) metadata. A slow or broken peers service
//! never blocks a claim for longer than `timeout_ms`; whether it then passes
//! is `fail_open`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ScoreError;

/// `rules.presence` of a leaderboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// Peers endpoint answering `{"ok":true,"peers":[{"address","parcel":[x,y]},…]}`
    /// (a catalyst's `/comms/peers` or archipelago-stats `/peers`).
    pub url: String,
    /// How far (in parcels, on each axis) the peer may be from the signed parcel.
    #[serde(default = "default_margin")]
    pub margin_parcels: u32,
    /// Upper bound on the whole check, ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// On timeout or a broken answer: accept (`true`) or refuse with 503 (`false`).
    #[serde(default)]
    pub fail_open: bool,
}

fn default_margin() -> u32 {
    2
}
fn default_timeout() -> u64 {
    2_000
}

impl PresenceConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err("url must be http:// or https://".into());
        }
        if self.timeout_ms == 0 {
            return Err("timeout_ms must be positive".into());
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct PeersAnswer {
    #[serde(default)]
    peers: Vec<Peer>,
}

#[derive(Debug, Deserialize)]
struct Peer {
    address: String,
    #[serde(default)]
    parcel: Option<(i64, i64)>,
}

/// Parses `"x,y"` (the signed metadata parcel).
fn parse_parcel(s: &str) -> Option<(i64, i64)> {
    let (x, y) = s.split_once(',')?;
    Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
}

/// Runs the check for `address` (lower-case) claiming to be at `parcel`.
pub(crate) async fn check(
    client: &reqwest::Client,
    config: &PresenceConfig,
    address: &str,
    parcel: Option<&str>,
) -> Result<(), ScoreError> {
    let (px, py) = parcel
        .and_then(parse_parcel)
        .ok_or_else(|| ScoreError::NotInWorld("the signed metadata names no parcel".into()))?;
    let fetch = async {
        let response = client.get(&config.url).send().await?.error_for_status()?;
        response.json::<PeersAnswer>().await
    };
    let answer = match tokio::time::timeout(Duration::from_millis(config.timeout_ms), fetch).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return unavailable(config, &e.to_string()),
        Err(_) => return unavailable(config, "timeout"),
    };
    let peer = answer
        .peers
        .iter()
        .find(|p| p.address.eq_ignore_ascii_case(address));
    let Some(peer) = peer else {
        return Err(ScoreError::NotInWorld("not connected to comms".into()));
    };
    let Some((x, y)) = peer.parcel else {
        return Err(ScoreError::NotInWorld("position unknown".into()));
    };
    let margin = i64::from(config.margin_parcels);
    if (x - px).abs() > margin || (y - py).abs() > margin {
        return Err(ScoreError::NotInWorld(format!(
            "at {x},{y}, not near {px},{py}"
        )));
    }
    Ok(())
}

fn unavailable(config: &PresenceConfig, why: &str) -> Result<(), ScoreError> {
    metrics::counter!("plaza_scores_presence_unavailable_total").increment(1);
    if config.fail_open {
        tracing::warn!(why, "presence check unavailable: failing open");
        Ok(())
    } else {
        tracing::warn!(why, "presence check unavailable: failing closed");
        Err(ScoreError::PresenceUnavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcels_parse_strictly() {
        assert_eq!(parse_parcel("-10,7"), Some((-10, 7)));
        assert_eq!(parse_parcel(" 1 , 2 "), Some((1, 2)));
        assert_eq!(parse_parcel("1"), None);
        assert_eq!(parse_parcel("a,b"), None);
    }

    #[test]
    fn config_is_validated() {
        let mut c = PresenceConfig {
            url: "file:///x".into(),
            margin_parcels: 2,
            timeout_ms: 1,
            fail_open: false,
        };
        assert!(c.validate().is_err());
        c.url = "http://127.0.0.1:1/comms/peers".into();
        c.validate().expect("valid");
    }
}
