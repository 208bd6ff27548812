//! The token fingerprint recorded in `status.tokenFingerprint`: how the operator knows whether the
//! remote copy of a token (which ZIS never shows back) is current, without storing the token.
//!
//! `hmac-sha256:<hex>` = HMAC-SHA256(key, object UID || 0x00 || token).
//!
//! Key choice: the `fingerprint-key` entry of the operator's credentials Secret when present, so
//! that someone who can read the object's status (often more people than can read Secrets)
//! cannot test guesses of a weak token. Without it, a fixed, public key is used; the object UID in
//! the message still makes fingerprints differ between objects (the same token in two objects is
//! not revealed as such), but guesses could then be tested offline, so production installs should
//! set `fingerprint-key`. The key is deliberately *not* derived from the ZIS access token: access
//! tokens now expire every 30 minutes to 48 hours, and every renewal would change every
//! fingerprint and re-push every token. Changing `fingerprint-key` re-pushes each token once.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SecretString;

/// Prefix that names the algorithm, so the scheme can change without ambiguity.
pub const PREFIX: &str = "hmac-sha256:";
/// The public key used when the credentials Secret has no `fingerprint-key`.
const DEFAULT_KEY: &[u8] = b"zis-operator.dev/token-fingerprint/v1";

/// The fingerprint of `token` as pushed for the object with `uid`.
pub fn fingerprint(key: Option<&SecretString>, uid: &str, token: &SecretString) -> String {
    let key_bytes = key.map_or(DEFAULT_KEY, |k| k.expose().as_bytes());
    // HMAC accepts keys of any length (long keys are hashed), so this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(key_bytes)
        // Impossible: only fixed-key-size MACs refuse a key length; HMAC hashes long keys.
        .expect("hmac accepts keys of any length");
    mac.update(uid.as_bytes());
    mac.update(&[0]);
    mac.update(token.expose().as_bytes());
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn token(value: &str) -> SecretString {
        SecretString::new(value)
    }

    #[test]
    fn the_same_token_key_and_object_give_the_same_fingerprint() {
        let key = SecretString::new("k");
        assert_eq!(
            fingerprint(Some(&key), "uid-1", &token("abc")),
            fingerprint(Some(&key), "uid-1", &token("abc"))
        );
    }

    #[test]
    fn a_rotated_token_changes_the_fingerprint() {
        assert_ne!(
            fingerprint(None, "uid-1", &token("abc")),
            fingerprint(None, "uid-1", &token("abd"))
        );
    }

    #[test]
    fn the_same_token_in_two_objects_gets_different_fingerprints() {
        assert_ne!(
            fingerprint(None, "uid-1", &token("abc")),
            fingerprint(None, "uid-2", &token("abc"))
        );
    }

    #[test]
    fn the_key_changes_the_fingerprint() {
        let a = SecretString::new("key-a");
        let b = SecretString::new("key-b");
        assert_ne!(
            fingerprint(Some(&a), "u", &token("abc")),
            fingerprint(Some(&b), "u", &token("abc"))
        );
        assert_ne!(
            fingerprint(Some(&a), "u", &token("abc")),
            fingerprint(None, "u", &token("abc"))
        );
    }

    #[test]
    fn the_fingerprint_is_neither_the_token_nor_its_plain_hash() {
        let secret = "s3cr3t-token-value";
        let fp = fingerprint(None, "u", &token(secret));
        assert!(fp.starts_with(PREFIX));
        assert_eq!(fp.len(), PREFIX.len() + 64);
        assert!(!fp.contains(secret));
        let plain = hex::encode(Sha256::digest(secret.as_bytes()));
        assert!(!fp.contains(&plain));
    }

    #[test]
    fn the_fingerprint_is_the_hmac_of_the_uid_a_zero_byte_and_the_token() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("any key length");
        mac.update(b"uid-9\0tok");
        let expected = format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()));
        let key = SecretString::new("Jefe");
        assert_eq!(fingerprint(Some(&key), "uid-9", &token("tok")), expected);
    }
}
