//! A throw-away RSA key pair for GitHub App tests (generated with `openssl genrsa -traditional
//! 2048` for this test kit; never used anywhere real), and a second private key whose signatures
//! must be refused.

/// The test App's private key, PKCS#1 PEM as GitHub issues them.
pub const TEST_APP_PRIVATE_KEY: &str = include_str!("keys/test_app.pem");
/// The matching public key (SPKI PEM): what the fake GitHub verifies App JWTs with.
pub const TEST_APP_PUBLIC_KEY: &str = include_str!("keys/test_app.pub.pem");
/// An unrelated private key.
pub const OTHER_APP_PRIVATE_KEY: &str = include_str!("keys/other_app.pem");
