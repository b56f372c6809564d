//! The refresh-token codec (DESIGN.md "Refresh tokens: the model"): a token names its family and
//! generation and carries an HMAC-SHA256 of both under a key derived for this purpose only, with a
//! key id. Nothing is stored per token: the family row keeps only its current generation, so
//! storage stays constant however often a family rotates, and any earlier generation is known
//! for what it is. A token whose MAC does not verify is unknown and can revoke nothing.
//!
//! Format: `{kid}.{family}.{generation}.{mac}` — `mac` is 256 bits, base64url.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::secrets::{Secrets, b64url};

/// The key id new tokens are made with.
const CURRENT_KID: &str = "1";

/// What a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    pub family: String,
    pub generation: i64,
}

fn hmac(key: &[u8; 32], kid: &str, family: &str, generation: i64) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(format!("tessera-refresh|{kid}|{family}|{generation}").as_bytes());
    mac
}

/// The token of `family` at `generation`. The same inputs always give the same token, which is
/// how a retry inside the leeway gets "the same next token" without storing it.
pub fn encode(secrets: &Secrets, family: &str, generation: i64) -> String {
    let tag = hmac(
        secrets.current_refresh_mac_key(),
        CURRENT_KID,
        family,
        generation,
    );
    format!(
        "{CURRENT_KID}.{family}.{generation}.{}",
        b64url(&tag.finalize().into_bytes())
    )
}

/// Verifies a presented token; `None` for anything malformed or whose MAC fails.
pub fn decode(secrets: &Secrets, token: &str) -> Option<RefreshClaims> {
    use base64::Engine;
    if token.len() > 256 {
        return None;
    }
    let mut parts = token.split('.');
    let (kid, family, generation, tag) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || family.is_empty()
        || family.len() > 64
        || !family
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let generation: i64 = generation.parse().ok().filter(|g| *g >= 0)?;
    let presented = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .ok()?;
    let key = secrets.refresh_mac_key(kid)?;
    // `verify_slice` compares in constant time.
    hmac(key, kid, family, generation)
        .verify_slice(&presented)
        .ok()?;
    Some(RefreshClaims {
        family: family.to_owned(),
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretString;

    fn secrets() -> Secrets {
        Secrets::new(&SecretString::new("r".repeat(40)))
    }

    #[test]
    fn tokens_round_trip_and_are_deterministic() {
        let s = secrets();
        let token = encode(&s, "fam_abc", 7);
        assert_eq!(token, encode(&s, "fam_abc", 7));
        assert_ne!(token, encode(&s, "fam_abc", 8));
        assert_eq!(
            decode(&s, &token),
            Some(RefreshClaims {
                family: "fam_abc".into(),
                generation: 7
            })
        );
        // 256 bits of MAC: 43 base64url characters.
        assert_eq!(token.rsplit('.').next().unwrap().len(), 43);
    }

    #[test]
    fn forged_or_altered_tokens_are_unknown() {
        let s = secrets();
        let token = encode(&s, "fam_abc", 3);
        let other_key = Secrets::new(&SecretString::new("q".repeat(40)));
        assert_eq!(decode(&other_key, &token), None);
        assert_eq!(decode(&s, &token.replace(".3.", ".4.")), None);
        assert_eq!(decode(&s, &token.replace("fam_abc", "fam_abd")), None);
        assert_eq!(decode(&s, "2.fam_abc.3.AAAA"), None);
        assert_eq!(decode(&s, "garbage"), None);
        assert_eq!(decode(&s, &format!("{token}.x")), None);
    }
}
