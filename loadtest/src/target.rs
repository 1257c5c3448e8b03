//! Where the load goes: parses the server URL and refuses anything that is
//! not loopback. The tool opens thousands of connections and signs thousands
//! of handshakes per second; pointed at a real host that is an attack, so the
//! check is not optional and has no override.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::Url;
use thiserror::Error;

/// Why a target URL was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("target_invalid: cannot parse {0:?} as a URL")]
    Invalid(String),
    /// A scheme other than ws/http (TLS is pointless on loopback and would
    /// measure the cipher, not the server).
    #[error("target_scheme: scheme {0:?} not supported (use ws:// or http://)")]
    Scheme(String),
    /// The host is not a loopback address.
    #[error("target_not_loopback: {0} is not a loopback address; the load tool only targets 127.0.0.0/8, ::1 or localhost")]
    NotLoopback(String),
    /// No port and no default for the scheme.
    #[error("target_invalid: {0:?} has no port")]
    NoPort(String),
}

impl TargetError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            TargetError::Invalid(_) | TargetError::NoPort(_) => "target_invalid",
            TargetError::Scheme(_) => "target_scheme",
            TargetError::NotLoopback(_) => "target_not_loopback",
        }
    }
}

/// A checked loopback server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Socket address to connect to.
    pub addr: SocketAddr,
    /// WebSocket URL of the connect endpoint (`ws://host:port/v1/ws`).
    pub ws_url: String,
    /// The path signed for the WebSocket connect (`/v1/ws`).
    pub ws_path: String,
    /// Base of HTTP routes (`http://host:port`), for tickets.
    pub http_base: String,
}

/// The path of the WebSocket endpoint when the URL gives none.
pub const DEFAULT_WS_PATH: &str = "/v1/ws";

impl Target {
    /// Parses `ws://127.0.0.1:8080[/v1/ws]` (or `http://…`). A URL with no
    /// path (or `/`) targets [`DEFAULT_WS_PATH`].
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let parsed = Url::parse(url).map_err(|_| TargetError::Invalid(url.to_owned()))?;
        match parsed.scheme() {
            "ws" | "http" => {}
            other => return Err(TargetError::Scheme(other.to_owned())),
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| TargetError::Invalid(url.to_owned()))?;
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| TargetError::NotLoopback(host.to_owned()))?
        };
        if !ip.is_loopback() {
            return Err(TargetError::NotLoopback(host.to_owned()));
        }
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| TargetError::NoPort(url.to_owned()))?;
        let path = match parsed.path() {
            "" | "/" => DEFAULT_WS_PATH.to_owned(),
            p => p.to_owned(),
        };
        let addr = SocketAddr::new(ip, port);
        Ok(Target {
            addr,
            ws_url: format!("ws://{addr}{path}"),
            ws_path: path,
            http_base: format!("http://{addr}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_and_normalised() {
        let t = Target::parse("ws://127.0.0.1:8080").expect("loopback v4");
        assert_eq!(t.ws_url, "ws://127.0.0.1:8080/v1/ws");
        assert_eq!(t.ws_path, "/v1/ws");
        assert_eq!(t.http_base, "http://127.0.0.1:8080");
        let t = Target::parse("http://localhost:9000/custom/ws").expect("localhost");
        assert_eq!(t.ws_url, "ws://127.0.0.1:9000/custom/ws");
        let t = Target::parse("ws://[::1]:7000/v1/ws").expect("loopback v6");
        assert_eq!(t.addr, "[::1]:7000".parse().expect("addr"));
        assert!(
            Target::parse("ws://127.8.9.10:1").is_ok(),
            "all of 127/8 is loopback"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            Target::parse("ws://10.0.0.1:8080").map_err(|e| e.code()),
            Err("target_not_loopback")
        );
        assert_eq!(
            Target::parse("ws://example.com:8080").map_err(|e| e.code()),
            Err("target_not_loopback")
        );
        assert_eq!(
            Target::parse("wss://127.0.0.1:8080").map_err(|e| e.code()),
            Err("target_scheme")
        );
        assert_eq!(
            Target::parse("not a url").map_err(|e| e.code()),
            Err("target_invalid")
        );
    }
}
