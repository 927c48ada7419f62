//! Passwords: bounded, hashed with Argon2id (OWASP's parameters, the crate's defaults) on the
//! blocking pool, a few at a time so a flood of sign-ins cannot take all memory, and checked
//! against a dummy hash when there is no such person, so both answers take as long.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_LEN: usize = 8;
/// Longer ones are refused before hashing (Argon2 reads all of it).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Argon2 runs at most this many at once (each takes 19 MiB).
static HASHING: Semaphore = Semaphore::const_new(4);

/// A hash no password matches in practice, verified in place of an unknown person's.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking(&generate()).unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$")));

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    #[error("the password could not be hashed")]
    Hashing,
}

/// A password of acceptable length (never logged: `Debug` hides it).
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(********)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Password, PasswordError> {
        if raw.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().count() < MIN_PASSWORD_LEN {
            return Err(PasswordError::TooShort);
        }
        Ok(Password(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The PHC string of an Argon2id hash of `password`, with a random salt.
pub async fn hash(password: &Password) -> Result<String, PasswordError> {
    let _permit = HASHING.acquire().await.map_err(|_| PasswordError::Hashing)?;
    let password = password.0.clone();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|_| PasswordError::Hashing)?
}

/// Whether `password` matches `stored`; with no stored hash, the dummy one is checked (and
/// fails), so an unknown address costs as much as a wrong password.
pub async fn verify(password: &str, stored: Option<String>) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    let password = password.to_string();
    let checked = tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        verify_blocking(&password, &hash) && known
    })
    .await;
    checked.unwrap_or(false)
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

fn verify_blocking(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A random password for a new person, shown once: 20 letters and digits (about 100 bits).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let random = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
    random
        .iter()
        .take(20)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_bounded() {
        assert_eq!(Password::parse("short").err(), Some(PasswordError::TooShort));
        assert_eq!(Password::parse(&"x".repeat(2000)).err(), Some(PasswordError::TooLong));
        assert!(Password::parse("long enough").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("long enough").ok()),
            "Some(Password(********))"
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = super::hash(&Password::parse("correct horse").expect("valid"))
            .await
            .expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(hash.clone())).await);
        assert!(!verify("wrong horse", Some(hash)).await);
        assert!(!verify("correct horse", None).await);
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
