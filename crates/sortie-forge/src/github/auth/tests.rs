use super::*;
use jsonwebtoken::{DecodingKey, Validation};
use sortie_testkit::forge::keys::{
    OTHER_APP_PRIVATE_KEY, TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY,
};

fn verify(token: &str, public_pem: &str) -> Result<AppClaims, jsonwebtoken::errors::Error> {
    let key = DecodingKey::from_rsa_pem(public_pem.as_bytes())?;
    let mut v = Validation::new(Algorithm::RS256);
    // The token is minted for a fixed instant in the past; check the times by hand below.
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v.set_issuer(&["12345"]);
    jsonwebtoken::decode::<AppClaims>(token, &key, &v).map(|d| d.claims)
}

// GitHub docs, "Generating a JSON Web Token (JWT) for a GitHub App": RS256, iat 60 s in the past,
// exp no more than 10 minutes ahead, iss = App id.
#[test]
fn jwt_verifies_with_the_apps_public_key() {
    let now = time::macros::datetime!(2030-01-01 12:00:00 UTC);
    let key = encoding_key(TEST_APP_PRIVATE_KEY).unwrap();
    let token = app_jwt("12345", &key, now).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let claims = verify(&token, TEST_APP_PUBLIC_KEY).unwrap();
    assert_eq!(claims.iss, "12345");
    assert_eq!(claims.iat, now.unix_timestamp() - 60);
    assert!(claims.exp > now.unix_timestamp());
    assert!(
        claims.exp - now.unix_timestamp() <= 600,
        "exp at most 10 minutes ahead"
    );
    assert!(claims.exp - claims.iat <= 660);
}

#[test]
fn jwt_from_another_key_does_not_verify() {
    let now = time::macros::datetime!(2030-01-01 12:00:00 UTC);
    let other = encoding_key(OTHER_APP_PRIVATE_KEY).unwrap();
    let token = app_jwt("12345", &other, now).unwrap();
    assert!(verify(&token, TEST_APP_PUBLIC_KEY).is_err());
}

#[test]
fn bad_pem_is_a_config_error() {
    let err =
        encoding_key("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
            .unwrap_err();
    assert!(matches!(err, ForgeError::Config { .. }), "{err}");
    assert!(err.to_string().contains("private key"));
}

#[test]
fn token_usable_until_five_minutes_before_expiry() {
    let exp = time::macros::datetime!(2030-01-01 13:00:00 UTC);
    let t = InstallationToken {
        token: Secret::new("ghs_x"),
        expires_at: exp,
    };
    assert!(t.usable_at(exp - Duration::from_secs(301)));
    assert!(!t.usable_at(exp - Duration::from_secs(300)));
    assert!(!t.usable_at(exp));
}
