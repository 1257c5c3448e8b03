//! Random ids for rooms and seats: 9 base-62 characters (~53 bits), the
//! player-key shape `arena.md` fixes. Collisions across a server's lifetime
//! are negligible at that size, so ids are not checked against a registry.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of every room and seat id.
pub const ID_LEN: usize = 9;

/// A fresh random id.
pub fn random_id() -> String {
    let mut bytes = [0u8; ID_LEN];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS RNG failing is not recoverable in a sensible way; fall back
        // to time-seeded bytes so the server keeps serving (ids need to be
        // unique, not secret: seats are bound to authenticated sessions).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> (i * 7)) as u8 ^ (i as u8).wrapping_mul(97);
        }
    }
    // 256 % 62 = 8: the first 8 symbols are 1/32 more likely; irrelevant for
    // uniqueness at 53 bits.
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 62]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_nine_alphanumerics_and_differ() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), ID_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
