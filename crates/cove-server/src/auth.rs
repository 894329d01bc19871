//! Authentication: who signed the request. It parses the SigV4 Authorization header, finds
//! the access key, verifies the signature over the exact bytes received, and resolves the key
//! to its IAM principal. The caller's region and service are those of the signing scope.

use std::time::{SystemTime, UNIX_EPOCH};

use http::request::Parts;

use cove_engine::{Credential, ROOT_PRINCIPAL};
use cove_policy::CallerKind;

use crate::authz::Principal;
use crate::error::Failure;
use crate::{AuthMode, Shared};

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    pub region: String,
    /// The service of the signing scope: `dynamodb`, `iam`, `sts` or `ec2`.
    pub service: String,
    pub principal: Principal,
}

/// The services a request may be signed for; each has its own protocol on this listener.
const SERVICES: [&str; 5] = ["dynamodb", "iam", "sts", "ec2", "elasticloadbalancing"];

pub fn authenticate(shared: &Shared, parts: &Parts, body: &[u8]) -> Result<Caller, Failure> {
    let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Err(Failure::Signature(cove_sigv4::SigV4Error::Missing));
    };
    // Valid UTF-8 (every SDK's header) is borrowed after a fast check; the lossy conversion,
    // which walks the text in chunks, only runs for the rest.
    let header = match std::str::from_utf8(header.as_bytes()) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(header.as_bytes()),
    };
    let auth = cove_sigv4::parse_authorization(&header).map_err(Failure::Signature)?;
    let credential = match shared.config.auth {
        AuthMode::Dev => Credential {
            version: 1,
            access_key_id: auth.access_key_id.clone(),
            secret_access_key: String::new(),
            account_id: shared.config.default_account.clone(),
            principal: ROOT_PRINCIPAL.to_string(),
            created: 0,
            active: true,
            session: None,
        },
        AuthMode::Verify => {
            let credential = match shared.engine.credential(&auth.access_key_id) {
                Some(c) => c,
                None => {
                    reload_if_due(shared);
                    shared
                        .engine
                        .credential(&auth.access_key_id)
                        .ok_or(Failure::UnrecognizedClient)?
                }
            };
            let headers: Vec<(&str, &[u8])> = parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect();
            let request = cove_sigv4::Request {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &headers,
                payload: body,
            };
            let now = unix_now();
            check_session_token(&credential, parts.headers.get("x-amz-security-token"))?;
            let key = signing_key(shared, &auth, &credential.secret_access_key);
            let service = SERVICES
                .iter()
                .find(|s| **s == auth.service)
                .copied()
                .unwrap_or("dynamodb");
            cove_sigv4::verify_with_key(&request, &auth, &key, service, now)
                .map_err(Failure::Signature)?;
            credential
        }
    };
    let principal = resolve(shared, &credential)?;
    Ok(Caller {
        credential,
        region: auth.region,
        service: auth.service,
        principal,
    })
}

/// Reloads keys from storage, at most once a second: `cove account create` adds keys from
/// another process, and unknown keys must not turn into a storage scan each.
fn reload_if_due(shared: &Shared) {
    let mut last = shared.last_reload.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
        return;
    }
    *last = Some(std::time::Instant::now());
    if let Err(err) = shared.engine.reload_credentials() {
        tracing::warn!(%err, "reloading access keys failed");
    }
}

/// Temporary credentials need their session token, unexpired; long-term keys take none.
fn check_session_token(
    credential: &Credential,
    token: Option<&http::HeaderValue>,
) -> Result<(), Failure> {
    match (&credential.session, token) {
        (None, None) => Ok(()),
        (Some(session), Some(token)) => {
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(session.token.as_bytes(), token.as_bytes()).into();
            if !same {
                return Err(Failure::UnrecognizedClient);
            }
            if session.expires < unix_now() {
                return Err(Failure::ExpiredToken);
            }
            Ok(())
        }
        _ => Err(Failure::UnrecognizedClient),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The IAM principal an access key belongs to.
fn resolve(shared: &Shared, credential: &Credential) -> Result<Principal, Failure> {
    if credential.principal == ROOT_PRINCIPAL {
        return Ok(Principal::root(&credential.account_id));
    }
    if let Some(session) = &credential.session {
        let account = &credential.account_id;
        let compiled = shared.engine.iam_compiled(account);
        // A session of a deleted role authenticates nothing.
        let role = compiled
            .roles
            .get(&credential.principal.to_lowercase())
            .cloned()
            .ok_or(Failure::UnrecognizedClient)?;
        let mut session_policies = shared
            .engine
            .managed_policies(account, &session.policy_arns);
        if let Some(doc) = &session.policy
            && let Ok(p) = cove_policy::Policy::parse(doc, cove_policy::PolicyKind::Identity)
        {
            session_policies.push(("session-policy".to_string(), std::sync::Arc::new(p)));
        }
        return Ok(Principal {
            kind: CallerKind::AssumedRole,
            account: account.clone(),
            arn: format!(
                "arn:aws:sts::{account}:assumed-role/{}/{}",
                role.name, session.session_name
            ),
            role_arn: Some(role.arn.clone()),
            userid: format!("{}:{}", role.id, session.session_name),
            username: None,
            policies: Some(role),
            session_policies,
            has_session_policy: session.policy.is_some() || !session.policy_arns.is_empty(),
        });
    }
    let compiled = shared.engine.iam_compiled(&credential.account_id);
    // A key whose user is gone authenticates nothing (IAM refuses to delete a user with
    // keys, so this is only a safeguard).
    let policies = compiled
        .users
        .get(&credential.principal.to_lowercase())
        .cloned()
        .ok_or(Failure::UnrecognizedClient)?;
    Ok(Principal {
        kind: CallerKind::User,
        account: credential.account_id.clone(),
        arn: policies.arn.clone(),
        role_arn: None,
        userid: policies.id.clone(),
        username: Some(policies.name.clone()),
        policies: Some(policies),
        session_policies: Vec::new(),
        has_session_policy: false,
    })
}

/// The signing key for a request's scope, from the cache when the same secret derived it.
/// Requests with a wrong date or region still fail in `verify_with_key`'s checks, which run
/// before the signature is compared. Only DynamoDB's keys are cached: they are the ones every
/// data-plane request needs.
fn signing_key(
    shared: &Shared,
    auth: &cove_sigv4::Authorization,
    secret: &str,
) -> cove_sigv4::SigningKey {
    /// How many access keys, and scopes per key, the cache holds: a flood of made-up scopes
    /// can only cost re-derivations, not memory.
    const MAX_KEYS: usize = 4096;
    const MAX_SCOPES_PER_KEY: usize = 4;
    let derive = || {
        cove_sigv4::SigningKey::new(cove_sigv4::signing_key(
            secret,
            &auth.date,
            &auth.region,
            &auth.service,
        ))
    };
    if auth.service != "dynamodb" {
        return derive();
    }
    let mut cache = shared
        .signing_keys
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(scopes) = cache.get(auth.access_key_id.as_str())
        && let Some(hit) = scopes
            .iter()
            .find(|c| c.date == auth.date && c.region == auth.region && c.secret == secret)
    {
        return hit.key.clone();
    }
    let key = derive();
    if cache.len() >= MAX_KEYS && !cache.contains_key(auth.access_key_id.as_str()) {
        cache.clear();
    }
    let scopes = cache.entry(auth.access_key_id.clone()).or_default();
    // A scope of this key with another secret (a re-created key) or the oldest one goes.
    scopes.retain(|c| !(c.date == auth.date && c.region == auth.region));
    if scopes.len() >= MAX_SCOPES_PER_KEY {
        scopes.remove(0);
    }
    scopes.push(crate::CachedKey {
        date: auth.date.clone(),
        region: auth.region.clone(),
        secret: secret.to_string(),
        key: key.clone(),
    });
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_engine::Session;

    fn credential(session: Option<Session>) -> Credential {
        Credential {
            version: 1,
            access_key_id: "ASIAEXAMPLE000000000".into(),
            secret_access_key: "secret".into(),
            account_id: "000000000000".into(),
            principal: "Reader".into(),
            created: 0,
            active: true,
            session,
        }
    }

    fn session(expires: i64) -> Session {
        Session {
            token: "token".into(),
            expires,
            session_name: "s".into(),
            policy: None,
            policy_arns: Vec::new(),
        }
    }

    #[test]
    fn session_tokens_must_match_and_be_current() {
        let token = http::HeaderValue::from_static("token");
        let wrong = http::HeaderValue::from_static("tokem");
        let current = credential(Some(session(unix_now() + 60)));
        assert!(check_session_token(&current, Some(&token)).is_ok());
        assert!(matches!(
            check_session_token(&current, Some(&wrong)),
            Err(Failure::UnrecognizedClient)
        ));
        assert!(matches!(
            check_session_token(&current, None),
            Err(Failure::UnrecognizedClient)
        ));
        let expired = credential(Some(session(unix_now() - 1)));
        assert!(matches!(
            check_session_token(&expired, Some(&token)),
            Err(Failure::ExpiredToken)
        ));
        let long_term = credential(None);
        assert!(check_session_token(&long_term, None).is_ok());
        assert!(matches!(
            check_session_token(&long_term, Some(&token)),
            Err(Failure::UnrecognizedClient)
        ));
    }
}
