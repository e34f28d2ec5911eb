//! Which brand owns which platform account: built once from the `[[brands]]` configuration,
//! then read by every adapter to decide direction (brand account = actor ⇒ outbound) and to
//! attribute a delivery to a tenant.
//!
//! It owns only the account → brand mapping and each brand's automation app ids. Everything
//! else a brand has in the configuration (timezone, business hours, SLA) is the processor's
//! business; unknown keys are ignored so the same `[[brands]]` table deserializes here.

use std::collections::{BTreeSet, HashMap};

use rapport_events::Platform;
use serde::Deserialize;

use crate::IngestError;

/// One brand as written in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BrandConfig {
    /// Brand (tenant) id; `id` in `rapport.toml`.
    #[serde(alias = "brand_id")]
    pub id: String,
    #[serde(default)]
    pub accounts: BrandAccounts,
    /// Messenger/Instagram `app_id`s and X `source_app_id`s of the brand's bots: outbound
    /// messages sent by them are `automated` and never count as responses.
    #[serde(default)]
    pub automation_app_ids: Vec<String>,
}

/// The brand's own account id per platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BrandAccounts {
    /// Facebook Page id (Pages feed and Messenger).
    pub facebook: Option<String>,
    /// Instagram professional account id (IG user id).
    pub instagram: Option<String>,
    /// X user id (`for_user_id`).
    pub x: Option<String>,
    /// Mastodon account id on the brand's instance.
    pub mastodon: Option<String>,
}

/// A configuration the directory refuses to build from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("brand id must not be empty or contain `:` (it is part of the Kafka key): `{0}`")]
    BadBrandId(String),
    #[error("brand `{0}` is configured twice")]
    DuplicateBrand(String),
    #[error("{platform} account `{account_id}` is claimed by brands `{first}` and `{second}`")]
    SharedAccount {
        platform: Platform,
        account_id: String,
        first: String,
        second: String,
    },
}

#[derive(Debug)]
struct Brand {
    id: String,
    automation_app_ids: BTreeSet<String>,
}

/// Account → brand lookup for every configured brand.
#[derive(Debug, Default)]
pub struct AccountDirectory {
    brands: Vec<Brand>,
    /// Brand index by account id, one map per platform (by `Platform::index`): keyed by the
    /// bare `String`, a lookup borrows the `&str` instead of building an owned key.
    by_account: Vec<HashMap<String, usize>>,
}

/// A brand resolved for one platform account.
#[derive(Debug, Clone, Copy)]
pub struct BrandRef<'a> {
    pub brand_id: &'a str,
    pub account_id: &'a str,
    automation_app_ids: &'a BTreeSet<String>,
}

impl BrandRef<'_> {
    /// Whether `app_id` is one of the brand's automation apps.
    pub fn is_automation_app(&self, app_id: &str) -> bool {
        self.automation_app_ids.contains(app_id)
    }
}

impl AccountDirectory {
    /// Build the directory; an account may belong to one brand only.
    pub fn new(brands: impl IntoIterator<Item = BrandConfig>) -> Result<Self, DirectoryError> {
        let mut dir = AccountDirectory {
            brands: Vec::new(),
            by_account: vec![HashMap::new(); Platform::ALL.len()],
        };
        for config in brands {
            if config.id.is_empty() || config.id.contains(':') {
                return Err(DirectoryError::BadBrandId(config.id));
            }
            if dir.brands.iter().any(|b| b.id == config.id) {
                return Err(DirectoryError::DuplicateBrand(config.id));
            }
            let index = dir.brands.len();
            let accounts = [
                (Platform::Facebook, config.accounts.facebook),
                (Platform::Instagram, config.accounts.instagram),
                (Platform::X, config.accounts.x),
                (Platform::Mastodon, config.accounts.mastodon),
            ];
            for (platform, account) in accounts {
                let Some(account_id) = account else { continue };
                let accounts = &mut dir.by_account[platform.index() as usize];
                if let Some(&other) = accounts.get(&account_id) {
                    return Err(DirectoryError::SharedAccount {
                        platform,
                        account_id,
                        first: dir.brands[other].id.clone(),
                        second: config.id,
                    });
                }
                accounts.insert(account_id, index);
            }
            dir.brands.push(Brand {
                id: config.id,
                automation_app_ids: config.automation_app_ids.into_iter().collect(),
            });
        }
        Ok(dir)
    }

    /// The brand owning `account_id` on `platform`, or `UnknownAccount`.
    pub fn lookup(
        &self,
        platform: Platform,
        account_id: &str,
    ) -> Result<BrandRef<'_>, IngestError> {
        self.find(platform, account_id)
            .ok_or_else(|| IngestError::UnknownAccount {
                platform,
                account_id: account_id.to_owned(),
            })
    }

    /// Like [`lookup`](Self::lookup), without an error when nobody owns the account.
    pub fn find(&self, platform: Platform, account_id: &str) -> Option<BrandRef<'_>> {
        let (key, &index) = self
            .by_account
            .get(platform.index() as usize)?
            .get_key_value(account_id)?;
        let brand = &self.brands[index];
        Some(BrandRef {
            brand_id: &brand.id,
            account_id: key,
            automation_app_ids: &brand.automation_app_ids,
        })
    }

    /// Whether a brand with this id is configured.
    pub fn has_brand(&self, brand_id: &str) -> bool {
        self.brands.iter().any(|b| b.id == brand_id)
    }

    /// The brand with this id, attributed to `account_id` (for platforms the directory keeps no
    /// accounts for, such as generic events from LinkedIn or Bluesky).
    pub(crate) fn brand_with_account<'a>(
        &'a self,
        brand_id: &str,
        account_id: &'a str,
    ) -> Option<BrandRef<'a>> {
        let brand = self.brands.iter().find(|b| b.id == brand_id)?;
        Some(BrandRef {
            brand_id: &brand.id,
            account_id,
            automation_app_ids: &brand.automation_app_ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(id: &str, x: &str) -> BrandConfig {
        BrandConfig {
            id: id.into(),
            accounts: BrandAccounts {
                x: Some(x.into()),
                ..BrandAccounts::default()
            },
            automation_app_ids: vec!["42".into()],
        }
    }

    #[test]
    fn lookup_finds_the_owner_and_reports_unknown_accounts() {
        let dir = AccountDirectory::new([brand("acme", "1"), brand("globex", "2")]).unwrap();
        let b = dir.lookup(Platform::X, "2").unwrap();
        assert_eq!((b.brand_id, b.account_id), ("globex", "2"));
        assert!(b.is_automation_app("42") && !b.is_automation_app("43"));
        assert_eq!(
            dir.lookup(Platform::Facebook, "2").unwrap_err(),
            IngestError::UnknownAccount {
                platform: Platform::Facebook,
                account_id: "2".into()
            }
        );
    }

    #[test]
    fn an_account_shared_by_two_brands_or_a_repeated_brand_is_refused() {
        assert!(matches!(
            AccountDirectory::new([brand("acme", "1"), brand("globex", "1")]),
            Err(DirectoryError::SharedAccount { .. })
        ));
        assert!(matches!(
            AccountDirectory::new([brand("acme", "1"), brand("acme", "2")]),
            Err(DirectoryError::DuplicateBrand(_))
        ));
        assert!(matches!(
            AccountDirectory::new([brand("a:b", "1")]),
            Err(DirectoryError::BadBrandId(_))
        ));
    }

    #[test]
    fn deserializes_from_the_configuration_shape() {
        let json = r#"{"id":"acme","name":"ACME","timezone":"Europe/Berlin",
            "accounts":{"facebook":"1234567890","x":"2244994945"},
            "automation_app_ids":["263902037430900"]}"#;
        let config: BrandConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.accounts.facebook.as_deref(), Some("1234567890"));
        assert_eq!(config.accounts.instagram, None);
        assert_eq!(
            config.automation_app_ids,
            vec!["263902037430900".to_string()]
        );
    }
}
