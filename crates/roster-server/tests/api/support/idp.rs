//! An identity provider of the tests' own: keys generated at run time
//! (RSA 2048, P-256, Ed25519, by aws-lc-rs; no key is committed), tokens
//! signed with them (any header and claims, to break exactly one rule),
//! and a JWKS server on `127.0.0.1:0` that can rotate its keys and go down.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    signer: Signer,
}

impl TestKey {
    /// An RSA 2048 key (`RS256`).
    pub fn rsa(kid: &str) -> Self {
        let kp = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
        Self {
            kid: kid.into(),
            signer: Signer::Rsa(kp),
        }
    }
    /// A P-256 key (`ES256`).
    pub fn ec(kid: &str) -> Self {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec key");
        Self {
            kid: kid.into(),
            signer: Signer::Ec(kp),
        }
    }
    /// An Ed25519 key (`EdDSA`).
    pub fn ed(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            signer: Signer::Ed(Ed25519KeyPair::generate().expect("ed key")),
        }
    }

    /// The JWS algorithm it signs with.
    pub fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// Its public JWK.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(kp) => {
                let pk = kp.public_key();
                json!({
                    "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero()),
                })
            }
            Signer::Ec(kp) => {
                let p = kp.public_key().as_ref();
                json!({
                    "kty": "EC", "kid": self.kid, "crv": "P-256",
                    "x": b64(&p[1..33]), "y": b64(&p[33..65]),
                })
            }
            Signer::Ed(kp) => json!({
                "kty": "OKP", "kid": self.kid, "crv": "Ed25519",
                "x": b64(kp.public_key().as_ref()),
            }),
        }
    }

    /// The bytes an attacker could read of the public key (here: the RSA
    /// modulus), to use as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(kp) => kp
                .public_key()
                .modulus()
                .big_endian_without_leading_zero()
                .to_vec(),
            Signer::Ec(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Ed(kp) => kp.public_key().as_ref().to_vec(),
        }
    }

    /// `header.claims.signature` with this key's signature, whatever the header says.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = match &self.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("rsa sign");
                sig
            }
            Signer::Ec(kp) => kp
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ec sign")
                .as_ref()
                .to_vec(),
            Signer::Ed(kp) => kp.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }

    /// A token with the standard header (`alg`, `kid`, `typ`) and `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(
            &json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An `HS256` token whose HMAC secret is `secret`.
pub fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": kid, "typ": "JWT"})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

#[derive(Default)]
struct Served {
    keys: Mutex<Vec<Value>>,
    down: AtomicBool,
    hits: AtomicUsize,
}

/// A JWKS endpoint on `127.0.0.1:0`, serving the keys it was last given.
pub struct JwksServer {
    addr: std::net::SocketAddr,
    served: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    /// Starts serving `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let served = Arc::new(Served::default());
        let s = served.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let s = s.clone();
                async move {
                    s.hits.fetch_add(1, Ordering::SeqCst);
                    if s.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = s.keys.lock().expect("keys").clone();
                    (
                        [("cache-control", "public, max-age=300")],
                        axum::Json(json!({ "keys": keys })),
                    )
                        .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = Self { addr, served, task };
        server.set_keys(keys);
        server
    }

    /// Its JWKS URL.
    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Serves `keys` from now on (a rotation).
    pub fn set_keys(&self, keys: &[&TestKey]) {
        *self.served.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk()).collect();
    }

    /// Answers `503` from now on.
    pub fn go_down(&self) {
        self.served.down.store(true, Ordering::SeqCst);
    }

    /// How many times the JWKS was asked for.
    pub fn hits(&self) -> usize {
        self.served.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
