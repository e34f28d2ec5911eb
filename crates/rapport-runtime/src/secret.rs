//! Secrets from configuration: a literal, `env:NAME` or `file:/path`, resolved once at boot,
//! never printed (Debug and Display are redacted), and up to two values at once so that a
//! signing secret can be rotated without dropping deliveries.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret that could not be resolved at boot.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} named by an `env:` secret is not set")]
    MissingEnv(String),
    #[error("cannot read secret file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret resolved to an empty value (from {0})")]
    Empty(String),
    #[error("at most two secrets may be active at once (rotation); got {0}")]
    TooMany(usize),
}

/// One resolved secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Resolve a secret reference: `env:NAME`, `file:/path` (one trailing newline is dropped),
    /// or the literal value itself.
    pub fn resolve(reference: &str) -> Result<Secret, SecretError> {
        let value = if let Some(name) = reference.strip_prefix("env:") {
            std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_owned()))?
        } else if let Some(path) = reference.strip_prefix("file:") {
            let raw = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                path: path.to_owned(),
                source,
            })?;
            raw.strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&raw)
                .to_owned()
        } else {
            reference.to_owned()
        };
        if value.is_empty() {
            let origin = reference
                .split_once(':')
                .map_or("a literal", |(kind, _)| kind);
            return Err(SecretError::Empty(origin.to_owned()));
        }
        Ok(Secret(value))
    }

    /// A secret built in code (tests, generated keys).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes. Call only where the value is used (HMAC keys, credentials).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A numeric-looking password set through an environment override arrives as a number.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(i64),
        }
        let reference = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => n.to_string(),
        };
        Secret::resolve(&reference).map_err(serde::de::Error::custom)
    }
}

/// The active secrets of one signing key: one normally, two during a rotation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<Secret>);

impl Secrets {
    pub fn new(secrets: Vec<Secret>) -> Result<Secrets, SecretError> {
        if secrets.len() > 2 {
            return Err(SecretError::TooMany(secrets.len()));
        }
        Ok(Secrets(secrets))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} active)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Secret),
            Many(Vec<Secret>),
        }
        let list = match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        Secrets::new(list).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_env_and_file_references_resolve() {
        assert_eq!(Secret::resolve("abc").unwrap().expose(), "abc");
        std::env::set_var("RAPPORT_TEST_SECRET_A", "from-env");
        assert_eq!(
            Secret::resolve("env:RAPPORT_TEST_SECRET_A")
                .unwrap()
                .expose(),
            "from-env"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "from-file\n").unwrap();
        assert_eq!(
            Secret::resolve(&format!("file:{}", path.display()))
                .unwrap()
                .expose(),
            "from-file"
        );
    }

    #[test]
    fn missing_sources_are_errors_that_do_not_leak_values() {
        let err = Secret::resolve("env:RAPPORT_TEST_SECRET_SURELY_UNSET").unwrap_err();
        assert!(err.to_string().contains("RAPPORT_TEST_SECRET_SURELY_UNSET"));
        assert!(matches!(
            Secret::resolve("file:/nonexistent/rapport"),
            Err(SecretError::File { .. })
        ));
        assert!(matches!(Secret::resolve(""), Err(SecretError::Empty(_))));
    }

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let list = Secrets::new(vec![s.clone(), s]).unwrap();
        assert!(!format!("{list:?}").contains("hunter2"));
    }

    #[test]
    fn at_most_two_secrets_are_active() {
        let s = Secret::new("x");
        assert!(Secrets::new(vec![s.clone(), s.clone(), s]).is_err());
    }
}
