"""The shared AWS walkthroughs, run unchanged against Cove with the real AWS CLI and boto3."""

import json
import re
import subprocess
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Key  # noqa: F401  (the resource API must import cleanly)
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def aws(env, endpoint, *args):
    out = subprocess.run(
        ["aws", "--endpoint-url", endpoint, "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out


def test_network_isolation_cli_create_table(cove, aws_env):
    """scenarios/network-isolation-cli.md: the create-table step, verbatim."""
    out = aws(
        aws_env,
        cove.endpoint,
        "dynamodb", "create-table",
        "--table-name", "BookCollection",
        "--attribute-definitions", "AttributeName=Author,AttributeType=S", "AttributeName=BookTitle,AttributeType=S",
        "--key-schema", "AttributeName=Author,KeyType=HASH", "AttributeName=BookTitle,KeyType=RANGE",
        "--provisioned-throughput", "ReadCapacityUnits=5,WriteCapacityUnits=5",
    )
    assert out.returncode == 0, out.stderr
    desc = json.loads(out.stdout)["TableDescription"]
    assert desc["TableStatus"] == "CREATING"
    assert desc["TableArn"] == f"arn:aws:dynamodb:{REGION}:000000000000:table/BookCollection"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", desc["TableId"])
    assert desc["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 0
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert desc["DeletionProtectionEnabled"] is False

    out = aws(aws_env, cove.endpoint, "dynamodb", "wait", "table-exists", "--table-name", "BookCollection")
    assert out.returncode == 0, out.stderr
    out = aws(aws_env, cove.endpoint, "dynamodb", "list-tables")
    assert json.loads(out.stdout)["TableNames"] == ["BookCollection"]

    # The same command again is refused as AWS refuses it.
    again = aws(
        aws_env,
        cove.endpoint,
        "dynamodb", "create-table",
        "--table-name", "BookCollection",
        "--attribute-definitions", "AttributeName=Author,AttributeType=S",
        "--key-schema", "AttributeName=Author,KeyType=HASH",
        "--billing-mode", "PAY_PER_REQUEST",
    )
    assert again.returncode != 0
    assert "ResourceInUseException" in again.stderr


def test_cli_with_wrong_secret_is_refused(cove, aws_env):
    env = dict(aws_env, AWS_SECRET_ACCESS_KEY="wrong")
    out = aws(env, cove.endpoint, "dynamodb", "list-tables")
    assert out.returncode != 0
    assert "InvalidSignatureException" in out.stderr


@pytest.fixture
def ddb_client(cove):
    return boto3.client(
        "dynamodb",
        region_name="us-west-1",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def test_privatelink_boto3_get_item(ddb_client):
    """scenarios/privatelink-boto3.md: the put and get, against the regional listener."""
    ddb_client.create_table(
        TableName="plays",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb_client.get_waiter("table_exists").wait(TableName="plays")
    item = {
        "pk": {"S": "64.0"},
        "sk": {"S": "2014-01-02T09:44:24Z"},
        "data": {"S": "208356596"},
        "type": {"S": "sample"},
    }
    ddb_client.put_item(TableName="plays", Item=item)
    response = ddb_client.get_item(
        TableName="plays",
        Key={"pk": {"S": "64.0"}, "sk": {"S": "2014-01-02T09:44:24Z"}},
    )
    assert response["Item"] == item


def test_boto3_resource_api_round_trip(cove):
    ddb = boto3.resource(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    table = ddb.create_table(
        TableName="people",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(Item={"id": 7, "name": "Ada", "tags": {"math", "engines"}, "score": Decimal("1.5")})
    got = table.get_item(Key={"id": 7})["Item"]
    assert got["name"] == "Ada"
    assert got["tags"] == {"math", "engines"}
    assert str(got["score"]) == "1.5"
    with pytest.raises(ClientError) as err:
        table.get_item(Key={"id": "not-a-number"})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == "The provided key element does not match the schema"
    # Tables are regional: another region does not see this one.
    other = boto3.client(
        "dynamodb",
        region_name="eu-central-1",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    assert other.list_tables()["TableNames"] == []
