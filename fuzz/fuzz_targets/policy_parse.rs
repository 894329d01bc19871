//! Fuzzes cove-policy with arbitrary documents: parsing as every policy kind must return a
//! policy or IAM's error, and evaluating what parses must return a decision, never panic.
#![no_main]

use cove_policy::{Caller, CallerKind, Context, Named, Policies, Policy, PolicyKind, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut context = Context::new();
    context.set("aws:username", "alice");
    context.set("aws:SourceIp", "203.0.113.9");
    context.set("aws:CurrentTime", "2026-11-22T12:00:00Z");
    context.set_many("dynamodb:LeadingKeys", vec!["alice".into(), "7".into()]);
    let caller = Caller {
        kind: CallerKind::User,
        account: "111122223333",
        arn: "arn:aws:iam::111122223333:user/alice",
        role_arn: None,
    };
    for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Endpoint, PolicyKind::Trust] {
        let Ok(policy) = Policy::parse(text, kind) else {
            continue;
        };
        let named = Named { name: "p", policy: &policy };
        let identity = [named];
        let policies = match kind {
            PolicyKind::Identity => Policies { identity: &identity, ..Policies::default() },
            PolicyKind::Endpoint => Policies { endpoint: Some(named), ..Policies::default() },
            _ => Policies { resource: Some(named), ..Policies::default() },
        };
        for action in ["dynamodb:GetItem", "sts:AssumeRole", "S3:*"] {
            let _ = cove_policy::evaluate(
                &Request {
                    caller,
                    action,
                    resource: "arn:aws:dynamodb:us-east-1:111122223333:table/alice",
                    resource_account: "111122223333",
                    context: &context,
                },
                &policies,
            );
        }
    }
});
