//! Access keys and the principals they belong to. Today every account has one root principal
//! whose key is either given by the operator or generated on first start; IAM users and STS
//! session credentials join this store later.

use std::collections::HashMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use cove_storage::{KeyRange, ScanOptions, WriteBatch};

use crate::follow::Area;
use crate::keys;
use crate::{Engine, EngineError, Result};

/// The principal name of an account's root user.
pub const ROOT_PRINCIPAL: &str = "root";

/// The version written into every credential record.
pub(crate) const CREDENTIAL_RECORD_VERSION: u32 = 1;

/// One access key: its secret and whose it is. Field names are the on-disk format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub version: u32,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    /// `root`, or the name of the IAM user the key belongs to.
    pub principal: String,
    /// Unix seconds when the key was made (0 for keys from before this field existed).
    #[serde(default)]
    pub created: i64,
    /// IAM's Active/Inactive status; an inactive key authenticates nothing.
    #[serde(default = "active")]
    pub active: bool,
    /// For temporary credentials from STS AssumeRole: the session they belong to.
    #[serde(default)]
    pub session: Option<Session>,
}

/// A role session made by AssumeRole. `Credential::principal` holds the role's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    /// Unix seconds after which the credentials are expired.
    pub expires: i64,
    pub session_name: String,
    /// The inline session policy, if the caller passed one.
    #[serde(default)]
    pub policy: Option<String>,
    /// Managed policies passed as session policies.
    #[serde(default)]
    pub policy_arns: Vec<String>,
}

fn active() -> bool {
    true
}

impl Credential {
    /// The principal's ARN, as AWS prints it in errors and policies.
    pub fn principal_arn(&self) -> String {
        if self.principal == ROOT_PRINCIPAL {
            format!("arn:aws:iam::{}:root", self.account_id)
        } else {
            format!("arn:aws:iam::{}:user/{}", self.account_id, self.principal)
        }
    }
}

pub fn load(view: &dyn cove_storage::ReadView) -> Result<HashMap<String, Credential>> {
    let entries = view.scan(
        &KeyRange::prefix(&[keys::CREDENTIAL]),
        ScanOptions::default(),
    )?;
    let mut out = HashMap::with_capacity(entries.len());
    for (_, value) in entries {
        let cred: Credential = serde_json::from_slice(&value)
            .map_err(|e| EngineError::Corrupt(format!("credential record: {e}")))?;
        if cred.version != CREDENTIAL_RECORD_VERSION {
            return Err(EngineError::Corrupt(format!(
                "credential record version {} is not readable",
                cred.version
            )));
        }
        out.insert(cred.access_key_id.clone(), cred);
    }
    Ok(out)
}

/// The alphabet of secrets and session tokens (base64's).
pub(crate) const SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A new access key id: `prefix` (`AKIA` long-term, `ASIA` temporary) and 16 upper-case
/// characters, 20 in all, as AWS makes them.
pub(crate) fn new_access_key_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    )
}

/// A random string over `alphabet`, from the operating system's generator.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

impl Engine {
    /// Looks up an active access key.
    pub fn credential(&self, access_key_id: &str) -> Option<Credential> {
        self.credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .filter(|c| c.active)
            .cloned()
    }

    /// Reloads access keys and IAM from storage: another process (`cove account create`, or
    /// another node) may have added some.
    pub fn reload_credentials(&self) -> Result<()> {
        self.reload(true).map(drop)
    }

    /// Makes sure `account_id` has a root access key and returns it. With `given`, that key
    /// pair becomes the root key (replacing a generated one); without, an existing root key is
    /// kept, or a new one is generated, stored, and returned.
    pub fn ensure_root_credential(
        &self,
        account_id: &str,
        given: Option<(String, String)>,
    ) -> Result<Credential> {
        let existing: Vec<Credential> = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| c.account_id == account_id && c.principal == ROOT_PRINCIPAL)
            .cloned()
            .collect();
        let wanted = match given {
            Some((id, secret)) => Credential {
                version: CREDENTIAL_RECORD_VERSION,
                access_key_id: id,
                secret_access_key: secret,
                account_id: account_id.to_string(),
                principal: ROOT_PRINCIPAL.to_string(),
                created: 0,
                active: true,
                session: None,
            },
            None => {
                if let Some(current) = existing.first() {
                    return Ok(current.clone());
                }
                Credential {
                    version: CREDENTIAL_RECORD_VERSION,
                    access_key_id: new_access_key_id("AKIA"),
                    secret_access_key: random_string(SECRET_ALPHABET, 40),
                    account_id: account_id.to_string(),
                    principal: ROOT_PRINCIPAL.to_string(),
                    created: 0,
                    active: true,
                    session: None,
                }
            }
        };
        if existing.len() == 1 && existing[0] == wanted {
            return Ok(wanted);
        }
        let mut batch = WriteBatch::new();
        for old in &existing {
            batch.delete(keys::credential_key(&old.access_key_id));
        }
        let bytes = serde_json::to_vec(&wanted).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        batch.put(keys::credential_key(&wanted.access_key_id), bytes);
        let generation = self.commit_control(batch, Area::Iam, None)?;
        self.installed(Area::Iam, generation, || {
            let mut map = self.credentials.write().unwrap_or_else(|e| e.into_inner());
            for old in &existing {
                map.remove(&old.access_key_id);
            }
            map.insert(wanted.access_key_id.clone(), wanted.clone());
        });
        Ok(wanted)
    }
}
