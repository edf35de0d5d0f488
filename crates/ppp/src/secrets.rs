//! A local verifier: pppd-style `chap-secrets` / `pap-secrets` files and the checks for
//! every method this crate implements.
//!
//! File format (pppd(8) "AUTHENTICATION"): one entry per line, `client server secret
//! [address ...]`, fields separated by white space, `"…"` quotes a field containing spaces,
//! `#` starts a comment, `*` in the client or server field matches any name. An address
//! other than `*` or `-` is given to the peer (the first IPv4 one). pppd's `@file`
//! secrets and address ranges/negations are not supported: such lines are reported as
//! errors.

use std::net::Ipv4Addr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::auth::{Acceptance, AuthRequest, AuthVerdict, Credentials, Rejection};
use crate::crypto;

/// One line of a secrets file.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretEntry {
    /// The peer's name, or `*`.
    pub client: String,
    /// Our name, or `*`.
    pub server: String,
    secret: String,
    /// The address to give this peer, if the line names one.
    #[zeroize(skip)]
    pub address: Option<Ipv4Addr>,
}

impl std::fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretEntry")
            .field("client", &self.client)
            .field("server", &self.server)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Errors reading a secrets file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// A line has fewer than three fields.
    #[error("line {0}: expected `client server secret [addresses]`")]
    MissingField(usize),
    /// A quoted field is not closed.
    #[error("line {0}: unterminated quote")]
    UnterminatedQuote(usize),
    /// A feature of pppd's format this reader does not implement.
    #[error("line {0}: unsupported: {1}")]
    Unsupported(usize, &'static str),
}

/// A parsed secrets file.
#[derive(Debug, Clone, Default)]
pub struct ChapSecrets {
    entries: Vec<SecretEntry>,
}

fn split_fields(line: &str, lineno: usize) -> Result<Vec<String>, SecretsError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(SecretsError::UnterminatedQuote(lineno)),
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(c) = chars.next() {
                                s.push(c);
                            }
                        }
                        Some(c) => s.push(c),
                    }
                }
                out.push(s);
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

impl ChapSecrets {
    /// Parses the text of a secrets file.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let mut f = split_fields(line, n)?;
            if f.is_empty() {
                continue;
            }
            if f.len() < 3 {
                f.zeroize();
                return Err(SecretsError::MissingField(n));
            }
            if f[2].starts_with('@') {
                f.zeroize();
                return Err(SecretsError::Unsupported(n, "secret read from a file (@file)"));
            }
            let mut address = None;
            for a in &f[3..] {
                if a == "*" || a == "-" {
                    continue;
                }
                match a.parse::<Ipv4Addr>() {
                    Ok(ip) => {
                        address.get_or_insert(ip);
                    }
                    Err(_) => {
                        f.zeroize();
                        return Err(SecretsError::Unsupported(n, "address form other than a.b.c.d"));
                    }
                }
            }
            entries.push(SecretEntry {
                client: std::mem::take(&mut f[0]),
                server: std::mem::take(&mut f[1]),
                secret: std::mem::take(&mut f[2]),
                address,
            });
            f.zeroize();
        }
        Ok(ChapSecrets { entries })
    }

    /// The entries.
    #[must_use]
    pub fn entries(&self) -> &[SecretEntry] {
        &self.entries
    }

    /// The entry for `client` talking to `server`: an exact name beats `*` (as in pppd).
    #[must_use]
    pub fn lookup(&self, client: &[u8], server: &str) -> Option<&SecretEntry> {
        let score = |e: &SecretEntry| -> Option<u8> {
            let c = if e.client.as_bytes() == client {
                2
            } else if e.client == "*" {
                0
            } else {
                return None;
            };
            let s = if e.server == server {
                1
            } else if e.server == "*" {
                0
            } else {
                return None;
            };
            Some(c + s)
        };
        self.entries.iter().filter_map(|e| score(e).map(|s| (s, e))).max_by_key(|(s, _)| *s).map(|(_, e)| e)
    }

    /// Decides an authentication request as authenticator `server`: the same checks as
    /// pppd (RFC 1334 clear-text compare, RFC 1994 MD5, RFC 2433 and RFC 2759 NT
    /// responses), in constant time where a secret is compared.
    #[must_use]
    pub fn verify(&self, server: &str, req: &AuthRequest) -> AuthVerdict {
        let reject =
            |m: &str| AuthVerdict::Reject(Rejection { message: m.to_owned(), ..Rejection::default() });
        let Some(e) = self.lookup(&req.username, server) else {
            return reject("Authentication failed");
        };
        let secret = e.secret.as_bytes();
        let accept = |authenticator_response, mppe| {
            AuthVerdict::Accept(Acceptance {
                message: "Access granted".to_owned(),
                authenticator_response,
                mppe,
                peer_address: e.address,
            })
        };
        match &req.credentials {
            Credentials::Pap { password } => {
                use subtle::ConstantTimeEq;
                if bool::from(password.as_slice().ct_eq(secret)) {
                    accept(None, None)
                } else {
                    reject("Authentication failed")
                }
            }
            Credentials::ChapMd5 { identifier, challenge, response } => {
                if crypto::chap_md5_verify(*identifier, secret, challenge, response) {
                    accept(None, None)
                } else {
                    reject("Authentication failed")
                }
            }
            Credentials::MsChapV1 { challenge, nt_response, use_nt, .. } => {
                use subtle::ConstantTimeEq;
                let want = crypto::mschapv1_nt_response(challenge, &e.secret);
                if *use_nt && bool::from(want.ct_eq(nt_response)) {
                    accept(None, None)
                } else {
                    reject("Authentication failed")
                }
            }
            Credentials::MsChapV2 { authenticator_challenge, peer_challenge, nt_response, .. } => {
                let ph = crypto::nt_password_hash(&e.secret);
                match crypto::mschapv2_verify(
                    &ph,
                    authenticator_challenge,
                    peer_challenge,
                    &req.username,
                    nt_response,
                ) {
                    Some(o) => accept(Some(o.authenticator_response), Some(o.mppe.clone())),
                    None => reject("Authentication failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthRequestId;

    const FILE: &str = r#"
# client   server   secret        addresses
alice      *        alicepass     *
"bob smith" lab     "pass word"   192.0.2.20
*          lab      wildpass      -
User       *        clientPass
"#;

    #[test]
    fn parse_and_lookup() {
        let s = ChapSecrets::parse(FILE).unwrap();
        assert_eq!(s.entries().len(), 4);
        let bob = s.lookup(b"bob smith", "lab").unwrap();
        assert_eq!(bob.address, Some(Ipv4Addr::new(192, 0, 2, 20)));
        assert_eq!(bob.secret, "pass word");
        assert_eq!(s.lookup(b"alice", "x").unwrap().secret, "alicepass");
        assert_eq!(s.lookup(b"carol", "lab").unwrap().secret, "wildpass");
        assert!(s.lookup(b"carol", "other").is_none());
        assert!(!format!("{bob:?}").contains("pass word"));
        assert_eq!(ChapSecrets::parse("a b").unwrap_err(), SecretsError::MissingField(1));
        assert_eq!(ChapSecrets::parse("a b \"c").unwrap_err(), SecretsError::UnterminatedQuote(1));
        assert!(matches!(ChapSecrets::parse("a b @/etc/x").unwrap_err(), SecretsError::Unsupported(1, _)));
    }

    #[test]
    fn verify_rfc2759_vector_gives_s_and_mppe() {
        let s = ChapSecrets::parse(FILE).unwrap();
        let h = |x: &str| hex::decode(x).unwrap();
        let req = AuthRequest {
            id: AuthRequestId(1),
            username: b"User".to_vec(),
            credentials: Credentials::MsChapV2 {
                identifier: 1,
                authenticator_challenge: h("5B5D7C7D7B3F2F3E3C2C602132262628").try_into().unwrap(),
                peer_challenge: h("21402324255E262A28295F2B3A337C7E").try_into().unwrap(),
                nt_response: h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF").try_into().unwrap(),
                flags: 0,
            },
        };
        let AuthVerdict::Accept(a) = s.verify("lab", &req) else { panic!("vector must verify") };
        assert_eq!(a.authenticator_response.unwrap().to_vec(), h("407A5589115FD0D6209F510FE9C04566932CDA56"));
        assert_eq!(a.mppe.unwrap().send.to_vec(), h("8B7CDC149B993A1BA118CB153F56DCCB"));

        let bad = AuthRequest { username: b"alice".to_vec(), ..req.clone() };
        assert!(matches!(s.verify("lab", &bad), AuthVerdict::Reject(_)));
    }

    #[test]
    fn verify_pap_and_chap_md5() {
        let s = ChapSecrets::parse(FILE).unwrap();
        let pap = |pw: &[u8]| AuthRequest {
            id: AuthRequestId(1),
            username: b"alice".to_vec(),
            credentials: Credentials::Pap { password: pw.to_vec() },
        };
        assert!(matches!(s.verify("lab", &pap(b"alicepass")), AuthVerdict::Accept(_)));
        assert!(matches!(s.verify("lab", &pap(b"alicepas")), AuthVerdict::Reject(_)));
        let ch = vec![7u8; 16];
        let chap = |id: u8| AuthRequest {
            id: AuthRequestId(2),
            username: b"bob smith".to_vec(),
            credentials: Credentials::ChapMd5 {
                identifier: 3,
                challenge: ch.clone(),
                response: crypto::chap_md5_response(id, b"pass word", &ch),
            },
        };
        match s.verify("lab", &chap(3)) {
            AuthVerdict::Accept(a) => assert_eq!(a.peer_address, Some(Ipv4Addr::new(192, 0, 2, 20))),
            v => panic!("{v:?}"),
        }
        assert!(matches!(s.verify("lab", &chap(4)), AuthVerdict::Reject(_)));
    }
}
