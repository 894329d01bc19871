"""IAM, STS and DynamoDB authorization end to end, with the real AWS CLI and boto3.

Covers the walkthrough's IAM steps (scenarios A1 and A2 of the reference: user, access key,
the `vpcepolicy` explicit deny and its exact AccessDenied text), IAM's error codes and texts,
a user with no policy, a user allowed GetItem on one table only, groups, roles, fine-grained
access with dynamodb:LeadingKeys across GetItem, PutItem, Query, BatchGetItem and
TransactWriteItems, and `cove account create` alongside a running server.
"""

import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, REGION, ROOT, SECRET_ACCESS_KEY

ACCOUNT = "000000000000"

VPCE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": "dynamodb:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:sourceVpce": "vpce-0123456789abcdef0"}},
        }
    ],
}


def aws(cove, env, *args, check=True):
    """Runs the AWS CLI against Cove; returns (exit code, parsed JSON or None, stderr)."""
    proc = subprocess.run(
        ["aws", "--endpoint-url", cove.endpoint, "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {proc.stderr}")
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out, proc.stderr


def as_user(env, key):
    user_env = dict(env)
    user_env["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    user_env["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    return user_env


def client(cove, service, key_id, secret):
    return boto3.client(
        service,
        endpoint_url=cove.endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def new_user(cove, env, name, policy=None):
    aws(cove, env, "iam", "create-user", "--user-name", name)
    _, out, _ = aws(cove, env, "iam", "create-access-key", "--user-name", name)
    if policy is not None:
        aws(
            cove, env, "iam", "put-user-policy", "--user-name", name,
            "--policy-name", "inline", "--policy-document", json.dumps(policy),
        )
    return out["AccessKey"]


def make_table(cove, env, name, sort_key=None):
    attrs = ["AttributeName=pk,AttributeType=S"]
    schema = ["AttributeName=pk,KeyType=HASH"]
    if sort_key:
        attrs.append(f"AttributeName={sort_key},AttributeType=S")
        schema.append(f"AttributeName={sort_key},KeyType=RANGE")
    aws(
        cove, env, "dynamodb", "create-table", "--table-name", name,
        "--attribute-definitions", *attrs, "--key-schema", *schema,
        "--billing-mode", "PAY_PER_REQUEST",
    )


def test_walkthrough_user_policy_and_explicit_deny(cove, aws_env, tmp_path):
    _, out, _ = aws(cove, aws_env, "iam", "create-user", "--user-name", "dynauser")
    user = out["User"]
    assert user["UserName"] == "dynauser"
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dynauser"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    _, out, _ = aws(cove, aws_env, "iam", "create-access-key", "--user-name", "dynauser")
    key = out["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"

    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(VPCE_POLICY, indent=2))
    _, out, _ = aws(
        cove, aws_env, "iam", "create-policy", "--policy-name", "vpcepolicy",
        "--policy-document", f"file://{policy_file}",
    )
    policy = out["Policy"]
    arn = f"arn:aws:iam::{ACCOUNT}:policy/vpcepolicy"
    assert policy["Arn"] == arn and policy["DefaultVersionId"] == "v1"
    assert policy["PolicyId"].startswith("ANPA") and policy["AttachmentCount"] == 0
    aws(cove, aws_env, "iam", "attach-user-policy", "--user-name", "dynauser", "--policy-arn", arn)
    aws(
        cove, aws_env, "iam", "attach-user-policy", "--user-name", "dynauser",
        "--policy-arn", "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
    )
    _, out, _ = aws(cove, aws_env, "iam", "list-attached-user-policies", "--user-name", "dynauser")
    assert [p["PolicyName"] for p in out["AttachedPolicies"]] == ["vpcepolicy", "AmazonDynamoDBFullAccess"]
    _, out, _ = aws(cove, aws_env, "iam", "get-policy", "--policy-arn", arn)
    assert out["Policy"]["AttachmentCount"] == 1
    # IAM returns the document URL-encoded; the CLI decodes it back to the same JSON.
    _, out, _ = aws(cove, aws_env, "iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1")
    assert out["PolicyVersion"]["Document"] == VPCE_POLICY
    assert out["PolicyVersion"]["IsDefaultVersion"] is True

    # Scenario A2: on the public path aws:sourceVpce is absent, so StringNotEquals holds.
    user_env = as_user(aws_env, key)
    code, _, err = aws(
        cove, user_env, "dynamodb", "create-table", "--table-name", "BookCollection",
        "--attribute-definitions", "AttributeName=Author,AttributeType=S",
        "--key-schema", "AttributeName=Author,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
        check=False,
    )
    assert code != 0
    assert (
        "An error occurred (AccessDeniedException) when calling the CreateTable operation: "
        f"User: arn:aws:iam::{ACCOUNT}:user/dynauser is not authorized to perform: dynamodb:CreateTable "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/BookCollection "
        "with an explicit deny in an identity-based policy"
    ) in err
    # The caller is who the key says.
    _, out, _ = aws(cove, user_env, "sts", "get-caller-identity")
    assert out == {"UserId": user["UserId"], "Account": ACCOUNT, "Arn": user["Arn"]}
    # Detaching the deny leaves the full-access policy: the same call now succeeds.
    aws(cove, aws_env, "iam", "detach-user-policy", "--user-name", "dynauser", "--policy-arn", arn)
    _, out, _ = aws(
        cove, user_env, "dynamodb", "create-table", "--table-name", "BookCollection",
        "--attribute-definitions", "AttributeName=Author,AttributeType=S",
        "--key-schema", "AttributeName=Author,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
    )
    assert out["TableDescription"]["TableName"] == "BookCollection"


def test_iam_errors_carry_iam_codes_and_texts(cove, aws_env):
    def fails(*args):
        code, _, err = aws(cove, aws_env, "iam", *args, check=False)
        assert code != 0, args
        return err.strip()

    aws(cove, aws_env, "iam", "create-user", "--user-name", "alice")
    assert fails("create-user", "--user-name", "ALICE").endswith(
        "(EntityAlreadyExists) when calling the CreateUser operation: User with name ALICE already exists."
    )
    assert fails("get-user", "--user-name", "nobody").endswith(
        "(NoSuchEntity) when calling the GetUser operation: The user with name nobody cannot be found."
    )
    assert fails(
        "create-policy", "--policy-name", "bad", "--policy-document", '{"Statement": [}'
    ).endswith("(MalformedPolicyDocument) when calling the CreatePolicy operation: Syntax errors in policy.")
    assert fails(
        "put-user-policy", "--user-name", "alice", "--policy-name", "p", "--policy-document",
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:GetItem"}}',
    ).endswith("Policy statement must contain resources.")
    aws(cove, aws_env, "iam", "create-access-key", "--user-name", "alice")
    aws(cove, aws_env, "iam", "create-access-key", "--user-name", "alice")
    assert fails("create-access-key", "--user-name", "alice").endswith(
        "(LimitExceeded) when calling the CreateAccessKey operation: Cannot exceed quota for AccessKeysPerUser: 2"
    )
    assert "(DeleteConflict) when calling the DeleteUser operation" in fails("delete-user", "--user-name", "alice")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/missing"
    assert fails("attach-user-policy", "--user-name", "alice", "--policy-arn", missing).endswith(
        f"(NoSuchEntity) when calling the AttachUserPolicy operation: Policy {missing} does not exist or is not attachable."
    )
    # Deleting the keys lets the user be deleted.
    _, out, _ = aws(cove, aws_env, "iam", "list-access-keys", "--user-name", "alice")
    assert len(out["AccessKeyMetadata"]) == 2
    for k in out["AccessKeyMetadata"]:
        aws(cove, aws_env, "iam", "delete-access-key", "--user-name", "alice", "--access-key-id", k["AccessKeyId"])
    aws(cove, aws_env, "iam", "delete-user", "--user-name", "alice")
    _, out, _ = aws(cove, aws_env, "iam", "list-users")
    assert out["Users"] == []


def test_no_policy_is_denied_and_get_item_on_one_table_only(cove, aws_env):
    make_table(cove, aws_env, "Allowed")
    make_table(cove, aws_env, "Other")
    for table in ("Allowed", "Other"):
        aws(cove, aws_env, "dynamodb", "put-item", "--table-name", table, "--item", '{"pk": {"S": "k"}, "v": {"S": "x"}}')

    nobody = new_user(cove, aws_env, "nobody")
    ddb = client(cove, "dynamodb", nobody["AccessKeyId"], nobody["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        ddb.list_tables()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: dynamodb:ListTables "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/* because no identity-based policy "
        "allows the dynamodb:ListTables action"
    )
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    reader = new_user(
        cove, aws_env, "reader",
        {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Action": "dynamodb:GetItem",
                "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/Allowed",
            }],
        },
    )
    ddb = client(cove, "dynamodb", reader["AccessKeyId"], reader["SecretAccessKey"])
    item = ddb.get_item(TableName="Allowed", Key={"pk": {"S": "k"}})["Item"]
    assert item == {"pk": {"S": "k"}, "v": {"S": "x"}}
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName="Other", Key={"pk": {"S": "k"}})
    assert e.value.response["Error"]["Message"].endswith(
        f"dynamodb:GetItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Other "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="Allowed", Item={"pk": {"S": "new"}})
    assert "dynamodb:PutItem" in e.value.response["Error"]["Message"]
    # Nothing was written by the denied call.
    _, out, _ = aws(cove, aws_env, "dynamodb", "get-item", "--table-name", "Allowed", "--key", '{"pk": {"S": "new"}}')
    assert out is None or "Item" not in out


def test_group_policies_apply_to_members(cove, aws_env):
    make_table(cove, aws_env, "Shelf")
    key = new_user(cove, aws_env, "member")
    aws(cove, aws_env, "iam", "create-group", "--group-name", "readers")
    aws(
        cove, aws_env, "iam", "attach-group-policy", "--group-name", "readers",
        "--policy-arn", "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess",
    )
    ddb = client(cove, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError):
        ddb.describe_table(TableName="Shelf")
    aws(cove, aws_env, "iam", "add-user-to-group", "--group-name", "readers", "--user-name", "member")
    assert ddb.describe_table(TableName="Shelf")["Table"]["TableName"] == "Shelf"
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName="Shelf")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    _, out, _ = aws(cove, aws_env, "iam", "get-group", "--group-name", "readers")
    assert [u["UserName"] for u in out["Users"]] == ["member"]
    aws(cove, aws_env, "iam", "remove-user-from-group", "--group-name", "readers", "--user-name", "member")
    with pytest.raises(ClientError):
        ddb.describe_table(TableName="Shelf")


def test_roles_keep_their_trust_policy(cove, aws_env):
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
    }
    _, out, _ = aws(
        cove, aws_env, "iam", "create-role", "--role-name", "Reader",
        "--assume-role-policy-document", json.dumps(trust),
    )
    assert out["Role"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/Reader"
    assert out["Role"]["RoleId"].startswith("AROA")
    _, out, _ = aws(cove, aws_env, "iam", "get-role", "--role-name", "Reader")
    assert out["Role"]["AssumeRolePolicyDocument"] == trust
    assert out["Role"]["MaxSessionDuration"] == 3600
    code, _, err = aws(
        cove, aws_env, "iam", "create-role", "--role-name", "Bad",
        "--assume-role-policy-document",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
        check=False,
    )
    assert code != 0 and "(MalformedPolicyDocument)" in err


def test_leading_keys_limit_a_user_to_their_own_items(cove, aws_env):
    make_table(cove, aws_env, "Notes", sort_key="sk")
    actions = [
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem",
    ]
    key = new_user(
        cove, aws_env, "tenant",
        {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Action": actions,
                "Resource": "arn:aws:dynamodb:*:*:table/Notes",
                "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:userid}"]}},
            }],
        },
    )
    sts = client(cove, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    me = sts.get_caller_identity()["UserId"]
    assert me.startswith("AIDA")
    root = client(cove, "dynamodb", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    root.put_item(TableName="Notes", Item={"pk": {"S": "someone-else"}, "sk": {"S": "1"}})

    ddb = client(cove, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])

    def denied(call, **kwargs):
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        return e.value.response["Error"]["Message"]

    ddb.put_item(TableName="Notes", Item={"pk": {"S": me}, "sk": {"S": "1"}, "text": {"S": "mine"}})
    message = denied(ddb.put_item, TableName="Notes", Item={"pk": {"S": "someone-else"}, "sk": {"S": "2"}})
    assert message.endswith("because no identity-based policy allows the dynamodb:PutItem action")

    assert ddb.get_item(TableName="Notes", Key={"pk": {"S": me}, "sk": {"S": "1"}})["Item"]["text"] == {"S": "mine"}
    denied(ddb.get_item, TableName="Notes", Key={"pk": {"S": "someone-else"}, "sk": {"S": "1"}})

    mine = ddb.query(
        TableName="Notes", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": me}}
    )
    assert mine["Count"] == 1
    denied(
        ddb.query, TableName="Notes", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "someone-else"}},
    )

    got = ddb.batch_get_item(RequestItems={"Notes": {"Keys": [{"pk": {"S": me}, "sk": {"S": "1"}}]}})
    assert len(got["Responses"]["Notes"]) == 1
    denied(
        ddb.batch_get_item,
        RequestItems={"Notes": {"Keys": [{"pk": {"S": me}, "sk": {"S": "1"}}, {"pk": {"S": "someone-else"}, "sk": {"S": "1"}}]}},
    )

    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "Notes", "Item": {"pk": {"S": me}, "sk": {"S": "2"}}}},
        {"Update": {"TableName": "Notes", "Key": {"pk": {"S": me}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])
    denied(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "Notes", "Item": {"pk": {"S": me}, "sk": {"S": "3"}}}},
        {"Delete": {"TableName": "Notes", "Key": {"pk": {"S": "someone-else"}, "sk": {"S": "1"}}}},
    ])
    # The denied transaction wrote nothing: neither its own Put nor the Delete.
    assert "Item" not in root.get_item(TableName="Notes", Key={"pk": {"S": me}, "sk": {"S": "3"}})
    assert "Item" in root.get_item(TableName="Notes", Key={"pk": {"S": "someone-else"}, "sk": {"S": "1"}})
    assert root.get_item(TableName="Notes", Key={"pk": {"S": me}, "sk": {"S": "1"}})["Item"]["n"] == {"N": "1"}
    # Scan carries no LeadingKeys, and Scan is not among the allowed actions.
    denied(ddb.scan, TableName="Notes")


def test_account_create_while_the_server_runs(cove, aws_env, tmp_path):
    binary = os.environ.get("COVE_BIN", str(ROOT / "target" / "debug" / "cove"))
    data_dir = cove.proc.args[cove.proc.args.index("--data-dir") + 1]
    created = subprocess.run(
        [binary, "account", "create", "--account-id", "111122223333", "--data-dir", data_dir],
        capture_output=True, text=True, timeout=60, check=True,
    )
    account = json.loads(created.stdout)
    assert account["AccountId"] == "111122223333"
    assert account["Arn"] == "arn:aws:iam::111122223333:root"
    again = subprocess.run(
        [binary, "account", "create", "--account-id", "111122223333", "--data-dir", data_dir],
        capture_output=True, text=True, timeout=60,
    )
    assert again.returncode != 0 and "already exists" in again.stderr

    make_table(cove, aws_env, "DefaultAccountTable")
    other_env = as_user(aws_env, account)
    _, out, _ = aws(cove, other_env, "sts", "get-caller-identity")
    assert out["Account"] == "111122223333" and out["Arn"] == "arn:aws:iam::111122223333:root"
    make_table(cove, other_env, "OtherAccountTable")
    _, out, _ = aws(cove, other_env, "dynamodb", "list-tables")
    assert out["TableNames"] == ["OtherAccountTable"]
    _, out, _ = aws(cove, aws_env, "dynamodb", "list-tables")
    assert out["TableNames"] == ["DefaultAccountTable"]
    # Each account has its own IAM namespace.
    aws(cove, other_env, "iam", "create-user", "--user-name", "dynauser")
    _, out, _ = aws(cove, other_env, "iam", "get-user", "--user-name", "dynauser")
    assert out["User"]["Arn"] == "arn:aws:iam::111122223333:user/dynauser"
    code, _, _ = aws(cove, aws_env, "iam", "get-user", "--user-name", "dynauser", check=False)
    assert code != 0


def test_table_resource_policies_grant_deny_and_reach_across_accounts(cove, aws_env):
    """Scenario A9 and the cross-account rule: a table's resource-based policy naming a user
    grants by itself within the account; an explicit Deny there binds even the root user;
    another account needs both the table's policy and its own identity policy."""
    make_table(cove, aws_env, "Shared")
    root = client(cove, "dynamodb", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    root.put_item(TableName="Shared", Item={"pk": {"S": "k"}, "v": {"S": "x"}})
    arn = root.describe_table(TableName="Shared")["Table"]["TableArn"]
    u2 = new_user(cove, aws_env, "u2")
    ddb_u2 = client(cove, "dynamodb", u2["AccessKeyId"], u2["SecretAccessKey"])
    with pytest.raises(ClientError):
        ddb_u2.get_item(TableName="Shared", Key={"pk": {"S": "k"}})

    with pytest.raises(ClientError) as e:
        root.get_resource_policy(ResourceArn=arn)
    assert e.value.response["Error"]["Code"] == "PolicyNotFoundException"
    grant = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "u2-reads", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u2"},
            "Action": "dynamodb:GetItem", "Resource": arn,
        }],
    }
    revision = root.put_resource_policy(ResourceArn=arn, Policy=json.dumps(grant))["RevisionId"]
    # The same document again keeps its revision; a stale expected revision is refused.
    assert root.put_resource_policy(ResourceArn=arn, Policy=json.dumps(grant))["RevisionId"] == revision
    with pytest.raises(ClientError) as e:
        root.put_resource_policy(ResourceArn=arn, Policy=json.dumps(grant), ExpectedRevisionId="1")
    assert e.value.response["Error"]["Code"] == "PolicyNotFoundException"
    got = root.get_resource_policy(ResourceArn=arn)
    assert json.loads(got["Policy"]) == grant and got["RevisionId"] == revision

    assert ddb_u2.get_item(TableName="Shared", Key={"pk": {"S": "k"}})["Item"]["v"] == {"S": "x"}
    with pytest.raises(ClientError) as e:
        ddb_u2.put_item(TableName="Shared", Item={"pk": {"S": "k2"}})
    assert e.value.response["Error"]["Message"].endswith(
        "because no identity-based policy allows the dynamodb:PutItem action"
    )

    # An explicit deny in the table's policy binds the root user too.
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteItem", "Resource": arn}],
    }
    root.put_resource_policy(ResourceArn=arn, Policy=json.dumps(deny), ExpectedRevisionId=revision)
    with pytest.raises(ClientError) as e:
        root.delete_item(TableName="Shared", Key={"pk": {"S": "k"}})
    assert e.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: dynamodb:DeleteItem "
        f"on resource: {arn} with an explicit deny in a resource-based policy"
    )
    # u2's grant went with the old document.
    with pytest.raises(ClientError):
        ddb_u2.get_item(TableName="Shared", Key={"pk": {"S": "k"}})

    # Another account reaches the table by ARN only when the table's policy allows it.
    binary = os.environ.get("COVE_BIN", str(ROOT / "target" / "debug" / "cove"))
    data_dir = cove.proc.args[cove.proc.args.index("--data-dir") + 1]
    other = json.loads(subprocess.run(
        [binary, "account", "create", "--account-id", "444455556666", "--data-dir", data_dir],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout)
    ddb_other = client(cove, "dynamodb", other["AccessKeyId"], other["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        ddb_other.get_item(TableName=arn, Key={"pk": {"S": "k"}})
    assert e.value.response["Error"]["Message"] == (
        f"User: arn:aws:iam::444455556666:root is not authorized to perform: dynamodb:GetItem "
        f"on resource: {arn} because no resource-based policy allows the dynamodb:GetItem action"
    )
    cross = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "444455556666"},
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": arn,
        }],
    }
    root.put_resource_policy(ResourceArn=arn, Policy=json.dumps(cross))
    assert ddb_other.get_item(TableName=arn, Key={"pk": {"S": "k"}})["Item"]["v"] == {"S": "x"}
    ddb_other.put_item(TableName=arn, Item={"pk": {"S": "from-other"}})
    assert "Item" in root.get_item(TableName="Shared", Key={"pk": {"S": "from-other"}})
    # The other account's own tables are untouched by this: it has none.
    assert ddb_other.list_tables()["TableNames"] == []

    root.delete_resource_policy(ResourceArn=arn)
    with pytest.raises(ClientError) as e:
        root.get_resource_policy(ResourceArn=arn)
    assert e.value.response["Error"]["Code"] == "PolicyNotFoundException"
    with pytest.raises(ClientError):
        ddb_other.get_item(TableName=arn, Key={"pk": {"S": "k"}})


def test_assume_role_gives_session_credentials_bounded_by_session_policies(cove, aws_env):
    make_table(cove, aws_env, "Library")
    root = client(cove, "dynamodb", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    root.put_item(TableName="Library", Item={"pk": {"S": "book"}})
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
    _, out, _ = aws(
        cove, aws_env, "iam", "create-role", "--role-name", "Reader",
        "--assume-role-policy-document", json.dumps(trust),
    )
    role = out["Role"]
    aws(
        cove, aws_env, "iam", "attach-role-policy", "--role-name", "Reader",
        "--policy-arn", "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess",
    )
    # The trust policy names the account, so the user's own policy must allow AssumeRole.
    outsider = new_user(cove, aws_env, "outsider")
    code, _, err = aws(
        cove, as_user(aws_env, outsider), "sts", "assume-role", "--role-arn", role["Arn"],
        "--role-session-name", "s0", check=False,
    )
    assert code != 0 and "(AccessDenied) when calling the AssumeRole operation" in err
    assumer = new_user(
        cove, aws_env, "assumer",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]},
    )
    _, out, _ = aws(
        cove, as_user(aws_env, assumer), "sts", "assume-role", "--role-arn", role["Arn"],
        "--role-session-name", "s1",
    )
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:s1",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/s1",
    }
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=REGION,
    )
    ident = session.client("sts", endpoint_url=cove.endpoint).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/s1"
    assert ident["UserId"] == f"{role['RoleId']}:s1"
    ddb = session.client("dynamodb", endpoint_url=cove.endpoint, config=Config(retries={"max_attempts": 1}))
    assert "Item" in ddb.get_item(TableName="Library", Key={"pk": {"S": "book"}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="Library", Item={"pk": {"S": "x"}})
    assert e.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Reader/s1 is not authorized to perform: dynamodb:PutItem "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Library because no identity-based policy "
        "allows the dynamodb:PutItem action"
    )
    # The same key with a wrong token, or without one, is not accepted.
    forged = boto3.client(
        "dynamodb", endpoint_url=cove.endpoint, region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token="forged", config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        forged.get_item(TableName="Library", Key={"pk": {"S": "book"}})
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"

    # A session policy narrows the session to GetItem.
    only_get = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]}
    _, out, _ = aws(
        cove, as_user(aws_env, assumer), "sts", "assume-role", "--role-arn", role["Arn"],
        "--role-session-name", "narrow", "--policy", json.dumps(only_get), "--duration-seconds", "900",
    )
    assert 0 <= out["PackedPolicySize"] <= 100
    narrow = boto3.client(
        "dynamodb", endpoint_url=cove.endpoint, region_name=REGION,
        aws_access_key_id=out["Credentials"]["AccessKeyId"],
        aws_secret_access_key=out["Credentials"]["SecretAccessKey"],
        aws_session_token=out["Credentials"]["SessionToken"], config=Config(retries={"max_attempts": 1}),
    )
    assert "Item" in narrow.get_item(TableName="Library", Key={"pk": {"S": "book"}})
    with pytest.raises(ClientError) as e:
        narrow.describe_table(TableName="Library")
    assert e.value.response["Error"]["Message"].endswith(
        "because no session policy allows the dynamodb:DescribeTable action"
    )
    # Root cannot assume roles, and durations past the role's maximum are refused.
    code, _, err = aws(
        cove, aws_env, "sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "rootsession", check=False,
    )
    assert code != 0 and "Roles may not be assumed by root accounts." in err
    code, _, err = aws(
        cove, as_user(aws_env, assumer), "sts", "assume-role", "--role-arn", role["Arn"],
        "--role-session-name", "long", "--duration-seconds", "7200", check=False,
    )
    assert code != 0 and "exceeds the MaxSessionDuration set for this role" in err


def test_audit_log_records_every_decision_without_secrets(tmp_path, aws_env):
    from conftest import Cove

    log_path = tmp_path / "audit.jsonl"
    server = Cove(tmp_path / "audit-data", extra_args=["--audit-log", str(log_path)])
    try:
        make_table(server, aws_env, "Audited")
        key = new_user(
            server, aws_env, "auditee",
            {"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadAudited", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
                {"Sid": "NoDeletes", "Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
            ]},
        )
        ddb = client(server, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
        ddb.get_item(TableName="Audited", Key={"pk": {"S": "a"}})
        with pytest.raises(ClientError):
            ddb.delete_item(TableName="Audited", Key={"pk": {"S": "a"}})
        with pytest.raises(ClientError):
            ddb.put_item(TableName="Audited", Item={"pk": {"S": "a"}})
    finally:
        server.stop()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Audited"
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/auditee"
    by_action = {(l["principal"], l["action"]): l for l in lines}
    created = by_action[(f"arn:aws:iam::{ACCOUNT}:root", "dynamodb:CreateTable")]
    assert created["decision"] == "RootAllow" and created["allowed"] is True
    assert created["resource"] == table_arn and created["sourceIp"] == "127.0.0.1"
    assert len(created["requestId"]) == 52
    get = by_action[(user_arn, "dynamodb:GetItem")]
    assert get["decision"] == "Allow" and get["policyType"] == "identity"
    assert get["policy"] == "user/auditee/inline" and get["statement"] == 0 and get["sid"] == "ReadAudited"
    delete = by_action[(user_arn, "dynamodb:DeleteItem")]
    assert delete["decision"] == "ExplicitDeny" and delete["allowed"] is False and delete["sid"] == "NoDeletes"
    put = by_action[(user_arn, "dynamodb:PutItem")]
    assert put["decision"] == "ImplicitDeny" and put["policyType"] == "identity"
    # IAM calls are decisions too.
    assert by_action[(f"arn:aws:iam::{ACCOUNT}:root", "iam:CreateUser")]["allowed"] is True
    text = log_path.read_text()
    assert key["SecretAccessKey"] not in text and SECRET_ACCESS_KEY not in text


def test_policy_simulate_names_the_deciding_statement(cove, aws_env, tmp_path):
    binary = os.environ.get("COVE_BIN", str(ROOT / "target" / "debug" / "cove"))
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Own", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
             "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}},
            {"Sid": "VpceOnly", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f60718"}}},
        ],
    }))

    def simulate(*args):
        proc = subprocess.run(
            [binary, "policy", "simulate", "--action", "dynamodb:GetItem",
             "--resource", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/T", *args],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode in (0, 1), proc.stderr
        out = json.loads(proc.stdout)
        assert (proc.returncode == 0) == out["allowed"]
        return out

    who = ["--principal-arn", f"arn:aws:iam::{ACCOUNT}:user/ann", "--policy", str(policy)]
    # IfExists: with the key absent the condition holds, so the Deny applies.
    out = simulate(*who, "--context-list", "dynamodb:LeadingKeys=ann")
    assert out["decision"] == "explicitDeny" and out["decidingStatement"]["sid"] == "VpceOnly"
    base = [*who, "--context", "aws:SourceVpce=vpce-0a1b2c3d4e5f60718"]
    out = simulate(*base, "--context-list", "dynamodb:LeadingKeys=ann")
    assert out["decision"] == "allowed" and out["decidingStatement"]["sid"] == "Own"
    out = simulate(*base, "--context-list", "dynamodb:LeadingKeys=bob")
    assert out["decision"] == "implicitDeny"
    assert out["message"].endswith("because no identity-based policy allows the dynamodb:GetItem action")
    out = simulate(*who, "--context-list", "dynamodb:LeadingKeys=ann", "--context", "aws:SourceVpce=vpce-other")
    assert out["decision"] == "explicitDeny" and out["decidingStatement"]["sid"] == "VpceOnly"
    # An endpoint policy must allow too.
    out = simulate(
        *base, "--context-list", "dynamodb:LeadingKeys=ann",
        "--endpoint-policy", '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"dynamodb:PutItem","Resource":"*"}]}',
    )
    assert out["message"].endswith("because no VPC endpoint policy allows the dynamodb:GetItem action")

    # A stored user's policies, read from the data directory the server uses.
    new_user(cove, aws_env, "stored", {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Get", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}],
    })
    data_dir = cove.proc.args[cove.proc.args.index("--data-dir") + 1]
    out = simulate("--user", "stored", "--data-dir", data_dir)
    assert out["principal"] == f"arn:aws:iam::{ACCOUNT}:user/stored"
    assert out["decidingStatement"] == {"policyType": "identity", "policy": "user/stored/inline", "statement": 0, "sid": "Get"}


def test_boundaries_index_arns_transactions_and_partiql_actions(cove, aws_env):
    root = client(cove, "dynamodb", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    root.create_table(
        TableName="Events",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "kind", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "ByKind", "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    root.put_item(TableName="Events", Item={"pk": {"S": "e1"}, "kind": {"S": "click"}})
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Events"

    # A permissions boundary caps what the identity policy grants.
    key = new_user(cove, aws_env, "bounded")
    aws(cove, aws_env, "iam", "attach-user-policy", "--user-name", "bounded",
        "--policy-arn", "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess")
    aws(cove, aws_env, "iam", "put-user-permissions-boundary", "--user-name", "bounded",
        "--permissions-boundary", "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess")
    _, out, _ = aws(cove, aws_env, "iam", "get-user", "--user-name", "bounded")
    assert out["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith("AmazonDynamoDBReadOnlyAccess")
    ddb = client(cove, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
    assert "Item" in ddb.get_item(TableName="Events", Key={"pk": {"S": "e1"}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="Events", Item={"pk": {"S": "e2"}})
    assert e.value.response["Error"]["Message"].endswith(
        "because no permissions boundary allows the dynamodb:PutItem action"
    )
    aws(cove, aws_env, "iam", "delete-user-permissions-boundary", "--user-name", "bounded")
    ddb.put_item(TableName="Events", Item={"pk": {"S": "e2"}})

    # Index reads are authorized on the index ARN; transactions per item with
    # dynamodb:EnclosingOperation; PartiQL with the PartiQL actions.
    key = new_user(cove, aws_env, "narrow", {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{table}/index/*"},
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table,
             "Condition": {"StringEquals": {"dynamodb:EnclosingOperation": "TransactGetItems"}}},
            {"Effect": "Allow", "Action": "dynamodb:PartiQLSelect", "Resource": table},
        ],
    })
    ddb = client(cove, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
    got = ddb.query(TableName="Events", IndexName="ByKind", KeyConditionExpression="kind = :k",
                    ExpressionAttributeValues={":k": {"S": "click"}})
    assert got["Count"] == 1
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="Events", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "e1"}})
    assert f"dynamodb:Query on resource: {table} because" in e.value.response["Error"]["Message"]
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "Events", "Key": {"pk": {"S": "e1"}}}}])
    assert got["Responses"][0]["Item"]["kind"] == {"S": "click"}
    with pytest.raises(ClientError):
        ddb.get_item(TableName="Events", Key={"pk": {"S": "e1"}})
    got = ddb.execute_statement(Statement="SELECT * FROM Events WHERE pk = 'e1'")
    assert got["Items"][0]["pk"] == {"S": "e1"}
    with pytest.raises(ClientError) as e:
        ddb.execute_statement(Statement="INSERT INTO Events VALUE {'pk': 'e3'}")
    assert "dynamodb:PartiQLInsert" in e.value.response["Error"]["Message"]

    # CreateTable's ResourcePolicy is attached with the table.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/narrow"},
        "Action": "dynamodb:PutItem", "Resource": "*"}]}
    root.create_table(
        TableName="Inbox", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
        ResourcePolicy=json.dumps(policy),
    )
    inbox = root.describe_table(TableName="Inbox")["Table"]["TableArn"]
    assert json.loads(root.get_resource_policy(ResourceArn=inbox)["Policy"]) == policy
    ddb.put_item(TableName="Inbox", Item={"pk": {"S": "hello"}})
    with pytest.raises(ClientError) as e:
        root.create_table(
            TableName="Bad", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
            ResourcePolicy='{"Statement": []}',
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_attributes_condition_key_limits_projections_and_updates(cove, aws_env):
    make_table(cove, aws_env, "Profiles")
    root = client(cove, "dynamodb", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    root.put_item(TableName="Profiles", Item={"pk": {"S": "p"}, "nickname": {"S": "hi"}, "salary": {"S": "s"}})
    key = new_user(cove, aws_env, "viewer", {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            "Resource": "arn:aws:dynamodb:*:*:table/Profiles",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "nickname"]}},
        }],
    })
    ddb = client(cove, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
    got = ddb.get_item(TableName="Profiles", Key={"pk": {"S": "p"}}, ProjectionExpression="#p",
                       ExpressionAttributeNames={"#p": "nickname"})
    assert got["Item"] == {"nickname": {"S": "hi"}}
    with pytest.raises(ClientError):
        ddb.get_item(TableName="Profiles", Key={"pk": {"S": "p"}}, ProjectionExpression="pk, salary")
    ddb.update_item(TableName="Profiles", Key={"pk": {"S": "p"}}, UpdateExpression="SET nickname = :v",
                    ExpressionAttributeValues={":v": {"S": "hello"}})
    with pytest.raises(ClientError):
        ddb.update_item(TableName="Profiles", Key={"pk": {"S": "p"}}, UpdateExpression="SET salary = :v",
                        ExpressionAttributeValues={":v": {"S": "leak"}})
    with pytest.raises(ClientError):
        ddb.update_item(TableName="Profiles", Key={"pk": {"S": "p"}}, UpdateExpression="SET nickname = :v",
                        ConditionExpression="attribute_exists(salary)", ExpressionAttributeValues={":v": {"S": "x"}})
    got = ddb.query(TableName="Profiles", KeyConditionExpression="pk = :p", ProjectionExpression="nickname",
                    ExpressionAttributeValues={":p": {"S": "p"}})
    assert got["Items"] == [{"nickname": {"S": "hello"}}]
    assert root.get_item(TableName="Profiles", Key={"pk": {"S": "p"}})["Item"]["salary"] == {"S": "s"}


def test_iam_lists_page_with_max_items_and_marker(cove, aws_env):
    for name in ("u1", "u2", "u3"):
        aws(cove, aws_env, "iam", "create-user", "--user-name", name)
    iam = client(cove, "iam", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    first = iam.list_users(MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["u1", "u2"]
    assert first["IsTruncated"] is True
    rest = iam.list_users(MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == ["u3"] and rest["IsTruncated"] is False
    # The CLI follows markers by itself.
    _, out, _ = aws(cove, aws_env, "iam", "list-users", "--page-size", "1")
    assert [u["UserName"] for u in out["Users"]] == ["u1", "u2", "u3"]


def test_scenario_a9_with_the_cli(cove, aws_env, tmp_path):
    """A9 with the AWS CLI: a table policy naming u2 lets u2, who has no identity policy, read."""
    make_table(cove, aws_env, "A9Table")
    aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "A9Table", "--item", '{"pk": {"S": "k"}}')
    _, out, _ = aws(cove, aws_env, "dynamodb", "describe-table", "--table-name", "A9Table")
    arn = out["Table"]["TableArn"]
    u2 = new_user(cove, aws_env, "u2")
    code, _, err = aws(cove, as_user(aws_env, u2), "dynamodb", "get-item", "--table-name", "A9Table",
                       "--key", '{"pk": {"S": "k"}}', check=False)
    assert code != 0 and "because no identity-based policy allows the dynamodb:GetItem action" in err
    policy = tmp_path / "table-policy.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u2"},
        "Action": "dynamodb:GetItem", "Resource": arn}]}))
    _, out, _ = aws(cove, aws_env, "dynamodb", "put-resource-policy", "--resource-arn", arn,
                    "--policy", f"file://{policy}")
    assert out["RevisionId"]
    _, out, _ = aws(cove, as_user(aws_env, u2), "dynamodb", "get-item", "--table-name", "A9Table",
                    "--key", '{"pk": {"S": "k"}}')
    assert out["Item"] == {"pk": {"S": "k"}}
