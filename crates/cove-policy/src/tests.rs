//! Table-driven tests of grammar, operators and evaluation order, with the examples of AWS's
//! IAM User Guide (condition operators, multivalued keys, policy variables, evaluation logic).

use super::*;

const ACCOUNT: &str = "111122223333";
const USER_ARN: &str = "arn:aws:iam::111122223333:user/alice";
const TABLE: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/Books";

fn user() -> Caller<'static> {
    Caller {
        kind: CallerKind::User,
        account: ACCOUNT,
        arn: USER_ARN,
        role_arn: None,
    }
}

fn identity(text: &str) -> Policy {
    Policy::parse(text, PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// An identity policy of one statement allowing `action` on `resource` under `condition`.
fn with_condition(condition: &str) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*","Condition":{condition}}}}}"#
    ))
}

fn allowed_by(policy: &Policy, action: &str, resource: &str, ctx: &Context) -> bool {
    let named = [Named { name: "p", policy }];
    let request = Request {
        caller: user(),
        action,
        resource,
        resource_account: ACCOUNT,
        context: ctx,
    };
    evaluate(
        &request,
        &Policies {
            identity: &named,
            ..Policies::default()
        },
    )
    .is_allowed()
}

fn ctx(pairs: &[(&'static str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.set(*k, *v);
    }
    c.set("aws:username", "alice");
    c.set("aws:userid", "AIDAEXAMPLEALICE00000");
    c
}

fn condition_holds(condition: &str, c: &Context) -> bool {
    allowed_by(&with_condition(condition), "dynamodb:GetItem", TABLE, c)
}

fn malformed(text: &str, kind: PolicyKind) -> String {
    match Policy::parse(text, kind) {
        Err(PolicyError::Malformed(m)) => m,
        Ok(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn grammar_errors_carry_iam_texts() {
    let id = PolicyKind::Identity;
    let cases = [
        ("not json", "Syntax errors in policy."),
        ("[]", "Syntax errors in policy."),
        (r#"{"Version":"2012-10-17"}"#, "Syntax errors in policy."),
        (
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Extra":1}}"#,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"s3:x","Resource":"*"}}"#,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"s3:x","Resource":"*"}}"#,
            "The policy failed legacy parsing",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","NotAction":"s3:y","Resource":"*"}}"#,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}}"#,
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"not a date"}}}}"#,
            "The policy failed legacy parsing",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*"}}"#,
            "Policy document must be version 2012-10-17 or greater.",
        ),
        (
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*"}}"#,
            "Policy document must be version 2012-10-17 or greater.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:x","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:x","Resource":"*"}]}"#,
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            "Policy statement must contain actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x"}}"#,
            "Policy statement must contain resources.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"getitem","Resource":"*"}}"#,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b:c","Resource":"*"}}"#,
            "Actions/Condition can contain only one colon.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dyn amo:x","Resource":"*"}}"#,
            "Vendor dyn amo is not valid",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"table"}}"#,
            "Resource table must be in ARN format or \"*\".",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:x","Resource":"*"}}"#,
            "Policy document should not specify a principal.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Resource":"*"}}"#,
            "Syntax errors in policy.",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(malformed(text, id), message, "{text}");
    }
    let trust_with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
    assert_eq!(
        malformed(trust_with_resource, PolicyKind::Trust),
        "Has prohibited field Resource"
    );
    let bad_principal = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"*","Resource":"*"}}"#;
    assert_eq!(
        malformed(bad_principal, PolicyKind::Resource),
        "Invalid principal in policy: \"AWS\":\"alice\""
    );
    let no_principal = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    assert_eq!(
        malformed(no_principal, PolicyKind::Resource),
        "Missing required field Principal"
    );
    // Resource and endpoint policies accept 2008-10-17 (EC2's default endpoint policy).
    let default_endpoint = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
    assert_eq!(
        Policy::parse(default_endpoint, PolicyKind::Endpoint)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn actions_are_case_insensitive_globs_and_resources_case_sensitive() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["dynamodb:Get*","DYNAMODB:query"],"Resource":"arn:aws:dynamodb:*:*:table/Books*"}}"#,
    );
    let c = ctx(&[]);
    assert!(allowed_by(&p, "dynamodb:GetItem", TABLE, &c));
    assert!(allowed_by(&p, "DynamoDB:getitem", TABLE, &c));
    assert!(allowed_by(&p, "dynamodb:Query", TABLE, &c));
    assert!(!allowed_by(&p, "dynamodb:PutItem", TABLE, &c));
    assert!(allowed_by(
        &p,
        "dynamodb:Query",
        &format!("{TABLE}/index/ByAuthor"),
        &c
    ));
    assert!(!allowed_by(
        &p,
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:111122223333:table/books",
        &c
    ));
    let not = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"dynamodb:Delete*","NotResource":"arn:aws:dynamodb:*:*:table/Secret"}}"#,
    );
    assert!(allowed_by(&not, "dynamodb:GetItem", TABLE, &c));
    // NotAction covers every service, not just DynamoDB.
    assert!(allowed_by(&not, "iam:CreateUser", TABLE, &c));
    assert!(!allowed_by(&not, "dynamodb:DeleteItem", TABLE, &c));
    assert!(!allowed_by(
        &not,
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:111122223333:table/Secret",
        &c
    ));
}

#[test]
fn policy_variables_in_resources_need_version_2012() {
    let v2012 = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:*:*:table/${aws:username}-*"}}"#,
    );
    let c = ctx(&[]);
    let alice = "arn:aws:dynamodb:us-east-1:111122223333:table/alice-notes";
    let bob = "arn:aws:dynamodb:us-east-1:111122223333:table/bob-notes";
    assert!(allowed_by(&v2012, "dynamodb:GetItem", alice, &c));
    assert!(!allowed_by(&v2012, "dynamodb:GetItem", bob, &c));
    // With the key absent the resource matches nothing.
    let mut anonymous = Context::new();
    anonymous.set("aws:userid", "x");
    assert!(!allowed_by(&v2012, "dynamodb:GetItem", alice, &anonymous));
    // In a 2008-10-17 resource policy the text is literal.
    let old = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:dynamodb:*:*:table/${aws:username}"}}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    let named = Named {
        name: "t",
        policy: &old,
    };
    let decide = |resource: &str| {
        evaluate(
            &Request {
                caller: user(),
                action: "dynamodb:GetItem",
                resource,
                resource_account: ACCOUNT,
                context: &c,
            },
            &Policies {
                resource: Some(named),
                ..Policies::default()
            },
        )
        .is_allowed()
    };
    assert!(decide("arn:aws:dynamodb:us-east-1:1:table/${aws:username}"));
    assert!(!decide("arn:aws:dynamodb:us-east-1:1:table/alice"));
}

#[test]
fn string_operators() {
    let c = ctx(&[
        ("aws:PrincipalTag/job-category", "iamuser-admin"),
        ("aws:SourceVpce", "vpce-1a2b3c4d"),
    ]);
    let cases = [
        (
            r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}"#,
            true,
        ),
        (
            r#"{"StringEquals":{"aws:PrincipalTag/job-category":"IAMUSER-ADMIN"}}"#,
            false,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/job-category":"IAMUSER-ADMIN"}}"#,
            true,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/job-category":"IAMUSER-ADMIN"}}"#,
            false,
        ),
        (
            r#"{"StringNotEquals":{"aws:PrincipalTag/job-category":"other"}}"#,
            true,
        ),
        // Key names are case-insensitive.
        (
            r#"{"StringEquals":{"AWS:PRINCIPALTAG/JOB-CATEGORY":"iamuser-admin"}}"#,
            true,
        ),
        (r#"{"StringLike":{"aws:SourceVpce":"vpce-1a2b*"}}"#, true),
        (r#"{"StringLike":{"aws:SourceVpce":"vpce-????????"}}"#, true),
        (
            r#"{"StringNotLike":{"aws:SourceVpce":["vpce-9*","vpce-1*"]}}"#,
            false,
        ),
        (
            r#"{"StringNotLike":{"aws:SourceVpce":["vpce-9*","vpce-8*"]}}"#,
            true,
        ),
        // Several values: OR. Several keys: AND. Several operators: AND.
        (
            r#"{"StringEquals":{"aws:SourceVpce":["vpce-x","vpce-1a2b3c4d"]}}"#,
            true,
        ),
        (
            r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d","aws:username":"bob"}}"#,
            false,
        ),
        (
            r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"},"StringLike":{"aws:username":"a*"}}"#,
            true,
        ),
        // Variables in values.
        (
            r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-${aws:username}"}}"#,
            false,
        ),
        (
            r#"{"StringLike":{"aws:SourceVpce":"*${aws:username}*"}}"#,
            false,
        ),
        (
            r#"{"StringEquals":{"aws:username":"${aws:username}"}}"#,
            true,
        ),
        // Absent key: positive operators false, negated true.
        (r#"{"StringEquals":{"aws:SourceIp":"x"}}"#, false),
        (r#"{"StringNotEquals":{"aws:SourceIp":"x"}}"#, true),
        (r#"{"StringNotLike":{"aws:SourceIp":"*"}}"#, true),
        (r#"{"StringEqualsIfExists":{"aws:SourceIp":"x"}}"#, true),
        (
            r#"{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-other"}}"#,
            false,
        ),
    ];
    for (condition, expected) in cases {
        assert_eq!(condition_holds(condition, &c), expected, "{condition}");
    }
}

#[test]
fn numeric_date_bool_binary_ip_arn_null() {
    let c = ctx(&[
        ("s3:max-keys", "10"),
        ("aws:CurrentTime", "2020-06-30T12:00:00Z"),
        ("aws:EpochTime", "1593518400"),
        ("aws:SecureTransport", "true"),
        ("aws:SourceIp", "203.0.113.45"),
        (
            "aws:SourceArn",
            "arn:aws:sns:us-east-2:123456789012:my-topic",
        ),
        ("key", "BinaryValueInBase64"),
    ]);
    let cases = [
        (r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#, true),
        (r#"{"NumericLessThan":{"s3:max-keys":10}}"#, false),
        (r#"{"NumericGreaterThan":{"s3:max-keys":"9.5"}}"#, true),
        (
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10.0"}}"#,
            true,
        ),
        (r#"{"NumericEquals":{"s3:max-keys":["1","10"]}}"#, true),
        (r#"{"NumericNotEquals":{"s3:max-keys":["1","10"]}}"#, false),
        (r#"{"NumericEquals":{"s3:max-keys":"ten"}}"#, false),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:01Z"}}"#,
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2020-06-30T12:00:00Z"}}"#,
            false,
        ),
        (
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2020-06-30T14:00:00+02:00"}}"#,
            true,
        ),
        (
            r#"{"DateEquals":{"aws:EpochTime":"2020-06-30T12:00:00Z"}}"#,
            true,
        ),
        (
            r#"{"DateNotEquals":{"aws:CurrentTime":"1593518400"}}"#,
            false,
        ),
        (
            r#"{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}"#,
            false,
        ),
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, true),
        (r#"{"Bool":{"aws:SecureTransport":false}}"#, false),
        (r#"{"Bool":{"aws:MultiFactorAuthPresent":"false"}}"#, false),
        (
            r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#,
            true,
        ),
        (
            r#"{"BinaryEquals":{"key":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
            true,
        ),
        (r#"{"BinaryEquals":{"key":"QmluYXJ5"}}"#, false),
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, true),
        (
            r#"{"IpAddress":{"aws:SourceIp":["2001:DB8:1234:5678::/64","203.0.113.45"]}}"#,
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            false,
        ),
        (r#"{"NotIpAddress":{"aws:VpcSourceIp":"10.0.0.0/8"}}"#, true),
        (r#"{"IpAddress":{"aws:VpcSourceIp":"10.0.0.0/8"}}"#, false),
        (
            r#"{"NotIpAddressIfExists":{"aws:VpcSourceIp":"10.0.0.0/8"}}"#,
            true,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:*"}}"#,
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-2:123456789012:my-topic"}}"#,
            true,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:*"}}"#,
            false,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sqs:*:*:*"}}"#,
            false,
        ),
        (
            r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::1:role/x"}}"#,
            true,
        ),
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, true),
        (r#"{"Null":{"aws:TokenIssueTime":"false"}}"#, false),
        (r#"{"Null":{"aws:SourceIp":"false"}}"#, true),
        (r#"{"Null":{"aws:SourceIp":"true"}}"#, false),
    ];
    for (condition, expected) in cases {
        assert_eq!(condition_holds(condition, &c), expected, "{condition}");
    }
}

#[test]
fn multivalued_keys_with_set_operators() {
    let attrs = |values: &[&str]| {
        let mut c = ctx(&[]);
        c.set_many(
            "dynamodb:Attributes",
            values.iter().map(|s| s.to_string()).collect(),
        );
        c
    };
    // The IAM User Guide's example: every requested attribute must be one of the listed.
    let all = r#"{"ForAllValues:StringEquals":{"dynamodb:Attributes":["ID","Message","Tags"]}}"#;
    assert!(condition_holds(all, &attrs(&["ID", "Message"])));
    assert!(!condition_holds(all, &attrs(&["ID", "Secret"])));
    assert!(condition_holds(all, &attrs(&[])));
    assert!(
        condition_holds(all, &ctx(&[])),
        "absent key: ForAllValues is vacuously true"
    );
    let any = r#"{"ForAnyValue:StringEquals":{"dynamodb:Attributes":["Secret","Salary"]}}"#;
    assert!(condition_holds(any, &attrs(&["ID", "Salary"])));
    assert!(!condition_holds(any, &attrs(&["ID", "Message"])));
    assert!(!condition_holds(any, &attrs(&[])));
    assert!(!condition_holds(any, &ctx(&[])));
    // Negated with a set operator: NOR per value, then the quantifier.
    let none_secret =
        r#"{"ForAllValues:StringNotLike":{"dynamodb:Attributes":["Secret*","Salary"]}}"#;
    assert!(condition_holds(none_secret, &attrs(&["ID", "Message"])));
    assert!(!condition_holds(none_secret, &attrs(&["ID", "SecretCode"])));
    let some_public = r#"{"ForAnyValue:StringNotEquals":{"dynamodb:Attributes":["Secret"]}}"#;
    assert!(condition_holds(some_public, &attrs(&["Secret", "ID"])));
    assert!(!condition_holds(some_public, &attrs(&["Secret"])));
    // LeadingKeys limited to the caller's user id, as in DynamoDB's fine-grained access docs.
    let own = r#"{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:userid}"]}}"#;
    let mut mine = ctx(&[]);
    mine.set_many("dynamodb:LeadingKeys", vec!["AIDAEXAMPLEALICE00000".into()]);
    assert!(condition_holds(own, &mine));
    mine.set_many(
        "dynamodb:LeadingKeys",
        vec!["AIDAEXAMPLEALICE00000".into(), "someone-else".into()],
    );
    assert!(!condition_holds(own, &mine));
}

/// A request by `caller` for GetItem on the table, with the given policies.
fn decide<'a>(caller: Caller<'_>, resource_account: &str, policies: Policies<'a>) -> Decision<'a> {
    let c = ctx(&[]);
    evaluate(
        &Request {
            caller,
            action: "dynamodb:GetItem",
            resource: TABLE,
            resource_account,
            context: &c,
        },
        &policies,
    )
}

fn resource_policy(text: &str) -> Policy {
    Policy::parse(text, PolicyKind::Resource).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn evaluation_order_across_policy_types() {
    let allow_all = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"All","Effect":"Allow","Action":"dynamodb:*","Resource":"*"}}"#,
    );
    let deny_get = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"NoGet","Effect":"Deny","Action":"dynamodb:GetItem","Resource":"*"}]}"#,
    );
    let only_put = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"*"}}"#,
    );
    let rbp_user = resource_policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Sid":"U","Effect":"Allow","Principal":{{"AWS":"{USER_ARN}"}},"Action":"dynamodb:GetItem","Resource":"*"}}}}"#
    ));
    let rbp_account = resource_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"dynamodb:GetItem","Resource":"*"}}"#,
    );
    let rbp_deny = resource_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"dynamodb:*","Resource":"*"}}"#,
    );
    let endpoint_put = Policy::parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"dynamodb:PutItem","Resource":"*"}}"#, PolicyKind::Endpoint).unwrap();
    let endpoint_all = Policy::parse(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#, PolicyKind::Endpoint).unwrap();
    let n = |name, policy| Named { name, policy };
    let allow_all_named = [n("arn:aws:iam::111122223333:policy/all", &allow_all)];
    let deny_named = [
        n("arn:aws:iam::111122223333:policy/deny", &deny_get),
        n("all", &allow_all),
    ];
    let only_put_named = [n("put", &only_put)];

    // Identity alone.
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            ..Default::default()
        },
    );
    assert_eq!(
        d,
        Decision::Allow {
            by: Some(Deciding {
                policy_type: PolicyType::Identity,
                policy: "arn:aws:iam::111122223333:policy/all",
                statement: 0,
                sid: Some("All")
            })
        }
    );
    let d = decide(user(), ACCOUNT, Policies::default());
    assert_eq!(
        d.reason("dynamodb:GetItem").unwrap(),
        "because no identity-based policy allows the dynamodb:GetItem action"
    );
    // Explicit deny anywhere wins, and names the deciding statement.
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &deny_named,
            ..Default::default()
        },
    );
    assert_eq!(
        d,
        Decision::ExplicitDeny {
            by: Deciding {
                policy_type: PolicyType::Identity,
                policy: "arn:aws:iam::111122223333:policy/deny",
                statement: 1,
                sid: Some("NoGet")
            }
        }
    );
    assert_eq!(
        d.reason("dynamodb:GetItem").unwrap(),
        "with an explicit deny in an identity-based policy"
    );
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            resource: Some(n("t", &rbp_deny)),
            ..Default::default()
        },
    );
    assert_eq!(
        d.reason("x").unwrap(),
        "with an explicit deny in a resource-based policy"
    );
    // The root user is allowed everything in its account, but not past an explicit deny.
    let root = Caller {
        kind: CallerKind::Root,
        account: ACCOUNT,
        arn: "arn:aws:iam::111122223333:root",
        role_arn: None,
    };
    assert!(decide(root, ACCOUNT, Policies::default()).is_allowed());
    assert!(
        !decide(
            root,
            ACCOUNT,
            Policies {
                resource: Some(n("t", &rbp_deny)),
                ..Default::default()
            }
        )
        .is_allowed()
    );
    // Across accounts even the root user needs the resource policy.
    assert_eq!(
        decide(root, "999988887777", Policies::default()),
        Decision::ImplicitDeny {
            policy_type: PolicyType::Resource
        }
    );

    // Endpoint policy: must allow too, never grants by itself.
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            endpoint: Some(n("vpce-1", &endpoint_put)),
            ..Default::default()
        },
    );
    assert_eq!(
        d.reason("dynamodb:GetItem").unwrap(),
        "because no VPC endpoint policy allows the dynamodb:GetItem action"
    );
    assert!(
        decide(
            user(),
            ACCOUNT,
            Policies {
                identity: &allow_all_named,
                endpoint: Some(n("vpce-1", &endpoint_all)),
                ..Default::default()
            }
        )
        .is_allowed()
    );
    assert!(
        !decide(
            user(),
            ACCOUNT,
            Policies {
                endpoint: Some(n("vpce-1", &endpoint_all)),
                ..Default::default()
            }
        )
        .is_allowed()
    );

    // Same account: a resource policy naming the user grants without any identity policy.
    assert!(
        decide(
            user(),
            ACCOUNT,
            Policies {
                resource: Some(n("t", &rbp_user)),
                ..Default::default()
            }
        )
        .is_allowed()
    );
    // Naming the account delegates: the identity policy must allow.
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            resource: Some(n("t", &rbp_account)),
            ..Default::default()
        },
    );
    assert_eq!(
        d,
        Decision::ImplicitDeny {
            policy_type: PolicyType::Identity
        }
    );
    assert!(
        decide(
            user(),
            ACCOUNT,
            Policies {
                identity: &allow_all_named,
                resource: Some(n("t", &rbp_account)),
                ..Default::default()
            }
        )
        .is_allowed()
    );
    // Cross account: both must allow.
    let other = Caller {
        kind: CallerKind::User,
        account: "999988887777",
        arn: "arn:aws:iam::999988887777:user/bob",
        role_arn: None,
    };
    let rbp_other = resource_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"dynamodb:GetItem","Resource":"*"}}"#,
    );
    assert_eq!(
        decide(
            other,
            ACCOUNT,
            Policies {
                identity: &allow_all_named,
                ..Default::default()
            }
        ),
        Decision::ImplicitDeny {
            policy_type: PolicyType::Resource
        }
    );
    assert_eq!(
        decide(
            other,
            ACCOUNT,
            Policies {
                resource: Some(n("t", &rbp_other)),
                ..Default::default()
            }
        ),
        Decision::ImplicitDeny {
            policy_type: PolicyType::Identity
        }
    );
    assert!(
        decide(
            other,
            ACCOUNT,
            Policies {
                identity: &allow_all_named,
                resource: Some(n("t", &rbp_other)),
                ..Default::default()
            }
        )
        .is_allowed()
    );

    // Permissions boundary and session policies are ceilings.
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            boundary: Some(n("b", &only_put)),
            ..Default::default()
        },
    );
    assert_eq!(
        d.reason("dynamodb:GetItem").unwrap(),
        "because no permissions boundary allows the dynamodb:GetItem action"
    );
    let role = Caller {
        kind: CallerKind::AssumedRole,
        account: ACCOUNT,
        arn: "arn:aws:sts::111122223333:assumed-role/Reader/s1",
        role_arn: Some("arn:aws:iam::111122223333:role/Reader"),
    };
    let d = decide(
        role,
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            session: &only_put_named,
            ..Default::default()
        },
    );
    assert_eq!(
        d.reason("dynamodb:GetItem").unwrap(),
        "because no session policy allows the dynamodb:GetItem action"
    );
    assert!(
        decide(
            role,
            ACCOUNT,
            Policies {
                identity: &allow_all_named,
                session: &allow_all_named,
                ..Default::default()
            }
        )
        .is_allowed()
    );
    // A resource policy naming the role stands in for the identity policy but not the session ceiling.
    let rbp_role = resource_policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Reader"},"Action":"dynamodb:GetItem","Resource":"*"}}"#,
    );
    assert!(
        decide(
            role,
            ACCOUNT,
            Policies {
                resource: Some(n("t", &rbp_role)),
                ..Default::default()
            }
        )
        .is_allowed()
    );
    assert!(
        !decide(
            role,
            ACCOUNT,
            Policies {
                resource: Some(n("t", &rbp_role)),
                session: &only_put_named,
                ..Default::default()
            }
        )
        .is_allowed()
    );
    // A role trust policy must allow the caller whatever the account.
    let trust = Policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/carol"},"Action":"sts:AssumeRole"}}"#, PolicyKind::Trust).unwrap();
    let d = decide(
        user(),
        ACCOUNT,
        Policies {
            identity: &allow_all_named,
            resource: Some(n("role", &trust)),
            resource_is_trust: true,
            ..Default::default()
        },
    );
    assert_eq!(
        d.reason("sts:AssumeRole").unwrap(),
        "because no role trust policy allows the sts:AssumeRole action"
    );
}

#[test]
fn the_walkthrough_endpoint_condition() {
    // Deny everything unless the request came through vpce-X (the walkthrough's `vpcepolicy`).
    let deny = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"},{"Effect":"Deny","Action":"dynamodb:*","Resource":"*","Condition":{"StringNotEquals":{"aws:sourceVpce":"vpce-0123456789abcdef0"}}}]}"#,
    );
    let named = [Named {
        name: "vpcepolicy",
        policy: &deny,
    }];
    let run = |c: &Context| {
        evaluate(
            &Request {
                caller: user(),
                action: "dynamodb:CreateTable",
                resource: TABLE,
                resource_account: ACCOUNT,
                context: c,
            },
            &Policies {
                identity: &named,
                ..Default::default()
            },
        )
    };
    let public = ctx(&[("aws:SourceIp", "203.0.113.5")]);
    assert_eq!(
        run(&public).reason("dynamodb:CreateTable").unwrap(),
        "with an explicit deny in an identity-based policy"
    );
    assert!(run(&ctx(&[("aws:SourceVpce", "vpce-0123456789abcdef0")])).is_allowed());
    assert!(!run(&ctx(&[("aws:SourceVpce", "vpce-1111111111111111f")])).is_allowed());
}

#[test]
fn allows_everything_only_for_unconditional_allow_all_without_denies() {
    let endpoint = |text: &str| Policy::parse(text, PolicyKind::Endpoint).unwrap();
    // EC2's two default endpoint policies, byte for byte.
    assert!(endpoint(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#).allows_everything());
    assert!(endpoint("{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}").allows_everything());
    assert!(endpoint(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["dynamodb:GetItem","*"],"Resource":["*"]}]}"#).allows_everything());
    // Anything that can deny, or that allows less, is evaluated.
    for text in [
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"dynamodb:DeleteTable","Resource":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"dynamodb:*","Resource":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:dynamodb:*:*:table/*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"dynamodb:PutItem","Resource":"*"}]}"#,
    ] {
        assert!(!endpoint(text).allows_everything(), "{text}");
    }
}
