//! Auth links and chains as they travel on the wire (SPEC.md §1).
//!
//! Owns: the typed, serialisable form producers emit (`{type, payload, signature}`
//! in that member order, the exact wire type names).
//! Must not: be used to *verify* untrusted input — the verifier reads chains as
//! loose JSON (`serde_json::Value`) so it can reproduce the reference on
//! ill-typed links; see [`super::verify`].

use serde::{Deserialize, Deserializer, Serialize};

/// The five link types, by their wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkType {
    /// Link 0: names the root authority (a wallet address); its signature is ignored.
    #[serde(rename = "SIGNER")]
    Signer,
    /// Delegation to an ephemeral key, EIP-191 signed by the current authority.
    #[serde(rename = "ECDSA_EPHEMERAL")]
    EcdsaEphemeral,
    /// The signed statement, EIP-191 signed by the current authority.
    #[serde(rename = "ECDSA_SIGNED_ENTITY")]
    EcdsaSignedEntity,
    /// Delegation signed by a contract wallet (ERC-1271).
    #[serde(rename = "ECDSA_EIP_1654_EPHEMERAL")]
    Eip1654Ephemeral,
    /// Statement signed by a contract wallet (ERC-1271).
    #[serde(rename = "ECDSA_EIP_1654_SIGNED_ENTITY")]
    Eip1654SignedEntity,
}

impl LinkType {
    /// Every type, in declaration order.
    pub const ALL: [LinkType; 5] = [
        LinkType::Signer,
        LinkType::EcdsaEphemeral,
        LinkType::EcdsaSignedEntity,
        LinkType::Eip1654Ephemeral,
        LinkType::Eip1654SignedEntity,
    ];

    /// The exact wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkType::Signer => "SIGNER",
            LinkType::EcdsaEphemeral => "ECDSA_EPHEMERAL",
            LinkType::EcdsaSignedEntity => "ECDSA_SIGNED_ENTITY",
            LinkType::Eip1654Ephemeral => "ECDSA_EIP_1654_EPHEMERAL",
            LinkType::Eip1654SignedEntity => "ECDSA_EIP_1654_SIGNED_ENTITY",
        }
    }

    /// Reads a wire spelling (exact, case-sensitive).
    pub fn from_wire(s: &str) -> Option<LinkType> {
        LinkType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the link delegates to an ephemeral key.
    pub const fn is_delegation(self) -> bool {
        matches!(self, LinkType::EcdsaEphemeral | LinkType::Eip1654Ephemeral)
    }

    /// Whether the link carries the final signed statement.
    pub const fn is_entity(self) -> bool {
        matches!(
            self,
            LinkType::EcdsaSignedEntity | LinkType::Eip1654SignedEntity
        )
    }

    /// Whether the link is verified through a contract (ERC-1271).
    pub const fn is_contract(self) -> bool {
        matches!(
            self,
            LinkType::Eip1654Ephemeral | LinkType::Eip1654SignedEntity
        )
    }
}

impl std::fmt::Display for LinkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One link, as producers write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLink {
    /// Link type (wire member `type`).
    #[serde(rename = "type")]
    pub kind: LinkType,
    /// Type-dependent text.
    pub payload: String,
    /// `0x` + hex; `""` on `SIGNER` (a `null` or missing value reads as `""`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub signature: String,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl AuthLink {
    /// The `SIGNER` link naming `address`.
    pub fn signer(address: impl Into<String>) -> AuthLink {
        AuthLink {
            kind: LinkType::Signer,
            payload: address.into(),
            signature: String::new(),
        }
    }

    /// `JSON.stringify(link)`: compact, members in `type, payload, signature` order.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An auth chain: link 0 is `SIGNER`, the last link signs the statement.
pub type AuthChain = Vec<AuthLink>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_json_stringify() {
        let l = AuthLink::signer("0xAb");
        assert_eq!(
            l.to_json(),
            r#"{"type":"SIGNER","payload":"0xAb","signature":""}"#
        );
        let back: AuthLink =
            serde_json::from_str(r#"{"type":"SIGNER","payload":"0xAb","signature":null}"#)
                .expect("link");
        assert_eq!(back, l);
        assert!(serde_json::from_str::<AuthLink>(r#"{"type":"signer","payload":"x"}"#).is_err());
    }
}
