//! The SigV4 cryptography: SHA-256 hex digests, HMAC-SHA256, the string to sign and the
//! derived signing key, kept apart from request parsing so that each can be tested on its own.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm SigV4 header authentication defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fixed last element of every SigV4 credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// SHA-256's block size, the size HMAC pads its key to.
const BLOCK_SIZE: usize = 64;

/// Lowercase hex SHA-256 of `data`, the form SigV4 uses for payload and request hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    let hex = hex32(&Sha256::digest(data).into());
    // Hex digits are ASCII, so this conversion cannot fail; the fallback only avoids a panic.
    String::from_utf8(hex.to_vec()).unwrap_or_default()
}

/// Lowercase hex of a 32-byte digest, on the stack: the verifier needs two of these per
/// request, and building them as `String`s through an iterator of chars cost more than the
/// formatting itself.
pub(crate) fn hex32(digest: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

/// Lowercase hex SHA-256 of `data` on the stack (see [`hex32`]).
pub(crate) fn sha256_hex_bytes(data: &[u8]) -> [u8; 64] {
    hex32(&Sha256::digest(data).into())
}

/// HMAC-SHA256 of `data` under `key`.
///
/// The key is brought to one block here (hashed when longer, zero-padded when shorter, exactly
/// as RFC 2104 specifies) so that the infallible block-sized constructor can be used and no
/// error path, and so no panic, exists.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK_SIZE];
    if key.len() > BLOCK_SIZE {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A derived signing key, with its HMAC state already keyed.
///
/// Keying an HMAC hashes one padded block for the inner hash and one for the outer; both
/// depend only on the key, so a server that caches signing keys caches this and each
/// signature then costs only the blocks of the string to sign and the outer finish.
#[derive(Clone)]
pub struct SigningKey {
    key: [u8; 32],
    mac: Hmac<Sha256>,
}

impl SigningKey {
    /// Keys the HMAC state for `key`, a key from [`signing_key`].
    pub fn new(key: [u8; 32]) -> SigningKey {
        let mut block = [0u8; BLOCK_SIZE];
        block[..32].copy_from_slice(&key);
        SigningKey {
            key,
            mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
        }
    }

    /// The key's 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// HMAC-SHA256 under this key of the concatenation of `parts`, which lets the verifier
    /// feed the string to sign piece by piece instead of formatting it first.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl From<[u8; 32]> for SigningKey {
    fn from(key: [u8; 32]) -> SigningKey {
        SigningKey::new(key)
    }
}

impl std::fmt::Debug for SigningKey {
    // The key is a credential: it never appears in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Derives the SigV4 signing key `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`. It depends only on the secret and the credential scope, so a server may
/// cache it per access key and day.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// Builds the string to sign from the request timestamp, the credential scope
/// (`date/region/service/aws4_request`) and the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    string_to_sign_from_hash(amz_date, scope, &sha256_hex(canonical_request.as_bytes()))
}

/// The string to sign when the canonical request's hash is already known, which lets the
/// verifier hash a canonical request held as bytes.
fn string_to_sign_from_hash(amz_date: &str, scope: &str, hashed_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hashed_request}")
}

/// The lowercase hex signature of a string to sign under a signing key.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(key, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: a short key, which exercises the zero-padding path.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_6() {
        // RFC 4231 test case 6: a 131-byte key, which exercises the key-hashing path.
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_with_exactly_one_block_key_matches_rfc4231_style_padding() {
        // A 64-byte key is used as is; compare with the reference HMAC constructor.
        let key = [0x0bu8; 64];
        let mut reference = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&[0u8; 64].into()));
        reference.update(b"data");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, b"data"), expected);
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // From AWS's "Examples of how to derive a signing key for Signature Version 4" page.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn a_keyed_signing_key_signs_as_the_plain_hmac_does() {
        let raw = signing_key("secret", "20150830", "us-east-1", "dynamodb");
        let key = SigningKey::new(raw);
        assert_eq!(
            key.mac(&[b"AWS4-HMAC-SHA256\n", b"2015", b"0830"]),
            hmac_sha256(&raw, b"AWS4-HMAC-SHA256\n20150830")
        );
        assert_eq!(key.bytes(), &raw);
    }

    #[test]
    fn stack_hex_matches_the_hex_crate() {
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(hex32(&digest).to_vec(), hex::encode(digest).into_bytes());
        assert_eq!(sha256_hex(b"abc"), hex::encode(digest));
    }

    #[test]
    fn empty_input_hash_is_the_well_known_constant() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
