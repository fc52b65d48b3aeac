//! Signature checks against vectors made independently of our code
//! (tests/fixtures/signatures/make-vectors.sh: openssl), plus the Standard Webhooks
//! specification's example (in the etsy module's unit tests).

use std::fs;
use std::path::PathBuf;

use onecount::channels::{SigError, ebay, shopify};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/signatures")
        .join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap().trim().to_string()
}

#[test]
fn shopify_hmac_made_by_openssl_verifies() {
    let body = fixture("shopify.body");
    let hmac = text("shopify.hmac");
    let secret = text("shopify.secret");
    let headers = vec![("X-Shopify-Hmac-SHA256".to_string(), hmac.clone())];
    assert_eq!(
        shopify::verify(&headers, &body, &[secret.as_bytes()]),
        Ok(())
    );
    assert_eq!(
        shopify::sign(secret.as_bytes(), &body),
        hmac,
        "our signer agrees with openssl"
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        shopify::verify(&headers, &tampered, &[secret.as_bytes()]),
        Err(SigError::Mismatch)
    );
}

#[test]
fn ebay_ecdsa_signature_made_by_openssl_verifies() {
    let body = fixture("ebay.body");
    let header = ebay::parse_header(Some(&text("ebay.header"))).unwrap();
    assert_eq!(header.kid, "99345d4e-5a9b-4b6b-9d6f-0a1d3f1c2b3a");
    // eBay's getPublicKey returns the PEM without line breaks.
    let one_line = text("ebay.pub.pem").replace('\n', "");
    let key = ebay::PublicKey {
        algorithm: "ECDSA".into(),
        digest: "SHA1".into(),
        key: one_line,
    };
    assert_eq!(ebay::verify_with_key(&body, &header, &key), Ok(()));
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    assert_eq!(
        ebay::verify_with_key(&tampered, &header, &key),
        Err(SigError::Mismatch)
    );
    // The digest comes from getPublicKey: the same signature is not a SHA-256 one.
    let wrong = ebay::PublicKey {
        digest: "SHA256".into(),
        ..key
    };
    assert_eq!(
        ebay::verify_with_key(&body, &header, &wrong),
        Err(SigError::Mismatch)
    );
}
