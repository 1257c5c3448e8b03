//! The metadata policy ([`RequestPolicy`]) and the reading of the policy-relevant
//! metadata fields ([`SceneMetadata`]).
//!
//! Owns: which self-asserted metadata a deployment or leaderboard insists on.
//! Must not: treat metadata as proof of anything — it narrows where a request
//! *claims* to come from (DESIGN.md §3).
//!
//! Re-casing: the legacy signed-fetch payload lower-cases the whole metadata text,
//! so `{"Signer":"Decentraland-Kernel-Scene"}` carries a valid signature. Fields are
//! therefore read from the text that was actually signed (lower-cased for the legacy
//! form), never from the raw header, so re-cased keys or values cannot bypass a rule.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::PolicyViolation;
use super::identity::SceneMetadata;

/// `metadata.signer` of requests made by a scene through `signedFetch`.
pub const KERNEL_SCENE_SIGNER: &str = "decentraland-kernel-scene";

/// Metadata rules for one endpoint (`auth.connect_policy`, or per leaderboard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestPolicy {
    /// Require `signer == "decentraland-kernel-scene"` (the request comes from a scene).
    pub require_kernel_scene: bool,
    /// Refuse `signer == "decentraland-kernel-scene"` (user-only endpoints).
    pub reject_kernel_scene: bool,
    /// Refuse `isGuest: true`.
    pub reject_guests: bool,
    /// Allowed `sceneId`s (empty = any).
    pub scene_ids: Vec<String>,
    /// Allowed `parcel`s, `"x,y"` (empty = any).
    pub parcels: Vec<String>,
    /// Allowed realms, matched against `realm.serverName`/`catalystName` or
    /// `realm.hostname`/`domain` (empty = any).
    pub realms: Vec<String>,
    /// Require requests that carry a body to bind it with `hashPayload`.
    pub require_hash_payload: bool,
}

impl RequestPolicy {
    /// Checks the fields; the first violated rule is reported.
    pub fn check(&self, m: &SceneMetadata, has_body: bool) -> Result<(), PolicyViolation> {
        let is_scene = m.signer.as_deref() == Some(KERNEL_SCENE_SIGNER);
        if self.require_kernel_scene && !is_scene {
            return Err(PolicyViolation::NotKernelScene);
        }
        if self.reject_kernel_scene && is_scene {
            return Err(PolicyViolation::KernelSceneRefused);
        }
        if self.reject_guests && m.is_guest == Some(true) {
            return Err(PolicyViolation::Guest);
        }
        if !allowed(&self.scene_ids, [m.scene_id.as_deref()]) {
            return Err(PolicyViolation::Scene(m.scene_id.clone()));
        }
        if !allowed(
            &self.parcels,
            [m.parcel.as_deref().map(normalise_parcel).as_deref()],
        ) {
            return Err(PolicyViolation::Parcel(m.parcel.clone()));
        }
        if !allowed(
            &self.realms,
            [m.realm.as_deref(), m.realm_hostname.as_deref()],
        ) {
            return Err(PolicyViolation::Realm(
                m.realm.clone().or_else(|| m.realm_hostname.clone()),
            ));
        }
        let bound = m.hash_payload.as_deref().is_some_and(|h| !h.is_empty());
        if self.require_hash_payload && has_body && !bound {
            return Err(PolicyViolation::BodyNotBound);
        }
        Ok(())
    }
}

/// Empty list = anything; otherwise one of the candidates must be listed
/// (case-insensitive: the signed text may be lower-cased).
fn allowed<'a>(list: &[String], candidates: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    if list.is_empty() {
        return true;
    }
    candidates.into_iter().flatten().any(|c| {
        let c = normalise_parcel(c);
        list.iter()
            .any(|l| normalise_parcel(l).eq_ignore_ascii_case(&c))
    })
}

/// `" -12 , 34 "` → `"-12,34"` (parcels are compared without spaces).
fn normalise_parcel(p: &str) -> String {
    p.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Reads the policy fields from signed metadata. Keys are matched case-insensitively
/// and string values lower-cased (see the module note).
pub fn scene_metadata(signed: &Value) -> SceneMetadata {
    let get = |v: &Value, key: &str| -> Option<Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let text = |v: Option<Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s.to_lowercase()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let realm = get(signed, "realm");
    let (realm_name, realm_host) = match &realm {
        Some(r @ Value::Object(_)) => (
            text(get(r, "serverName")).or_else(|| text(get(r, "catalystName"))),
            text(get(r, "hostname")).or_else(|| text(get(r, "domain"))),
        ),
        Some(Value::String(s)) => (Some(s.to_lowercase()), None),
        _ => (None, None),
    };
    SceneMetadata {
        signer: text(get(signed, "signer")),
        scene_id: text(get(signed, "sceneId")),
        parcel: text(get(signed, "parcel")),
        realm: realm_name,
        realm_hostname: realm_host,
        is_guest: match get(signed, "isGuest") {
            Some(Value::Bool(b)) => Some(b),
            // A re-cased `"isGuest":"True"` must not read as "not a guest".
            Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        },
        hash_payload: text(get(signed, "hashPayload")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recased_keys_and_values_are_read() {
        let m = scene_metadata(&serde_json::json!({
            "Signer": "Decentraland-Kernel-Scene", "ISGUEST": true, "Realm": {"ServerName": "Main"}
        }));
        assert_eq!(m.signer.as_deref(), Some(KERNEL_SCENE_SIGNER));
        assert_eq!(m.is_guest, Some(true));
        assert_eq!(m.realm.as_deref(), Some("main"));
        let p = RequestPolicy {
            reject_kernel_scene: true,
            ..Default::default()
        };
        assert_eq!(p.check(&m, false), Err(PolicyViolation::KernelSceneRefused));
        let p = RequestPolicy {
            reject_guests: true,
            ..Default::default()
        };
        assert_eq!(p.check(&m, false), Err(PolicyViolation::Guest));
    }

    #[test]
    fn allow_lists() {
        let m = scene_metadata(&serde_json::json!({"sceneId": "bafkA", "parcel": "-12,34",
            "realm": {"hostname": "peer.decentraland.org", "serverName": "main"}}));
        let p = RequestPolicy {
            scene_ids: vec!["bafka".into()],
            parcels: vec!["-12, 34".into()],
            realms: vec!["peer.decentraland.org".into()],
            ..Default::default()
        };
        assert_eq!(p.check(&m, false), Ok(()));
        let p = RequestPolicy {
            parcels: vec!["0,0".into()],
            ..Default::default()
        };
        assert_eq!(
            p.check(&m, false),
            Err(PolicyViolation::Parcel(Some("-12,34".into())))
        );
        let p = RequestPolicy {
            require_hash_payload: true,
            ..Default::default()
        };
        assert_eq!(p.check(&m, true), Err(PolicyViolation::BodyNotBound));
        assert_eq!(p.check(&m, false), Ok(()));
    }
}
