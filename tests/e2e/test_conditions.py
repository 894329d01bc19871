"""Conditional writes and updates with boto3's resource API, whose Key/Attr conditions
generate the expressions and placeholders themselves."""

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


@pytest.fixture
def accounts(cove):
    ddb = boto3.resource(
        "dynamodb",
        region_name="us-east-2",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    table = ddb.create_table(
        TableName="accounts",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(Item={"id": "acct-1", "balance": 100, "status": "open", "owners": {"ann"}})
    return table


def test_update_item_with_attr_conditions(accounts):
    out = accounts.update_item(
        Key={"id": "acct-1"},
        UpdateExpression="SET balance = balance - :amount ADD owners :new REMOVE #s",
        ConditionExpression=Attr("balance").gte(30) & Attr("status").eq("open") & Attr("owners").contains("ann"),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":amount": 30, ":new": {"bob"}},
        ReturnValues="ALL_NEW",
    )
    assert out["Attributes"] == {"id": "acct-1", "balance": Decimal(70), "owners": {"ann", "bob"}}

    with pytest.raises(ClientError) as err:
        accounts.update_item(
            Key={"id": "acct-1"},
            UpdateExpression="SET balance = balance - :amount",
            ConditionExpression=Attr("balance").gte(Decimal(100)),
            ExpressionAttributeValues={":amount": 100},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    error = err.value.response["Error"]
    assert error["Code"] == "ConditionalCheckFailedException"
    assert error["Message"] == "The conditional request failed"
    # boto3 hands back the item the condition was checked against.
    assert err.value.response["Item"]["balance"] == {"N": "70"}
    assert accounts.get_item(Key={"id": "acct-1"})["Item"]["balance"] == 70


def test_put_and_delete_conditions(accounts):
    with pytest.raises(ClientError) as err:
        accounts.put_item(Item={"id": "acct-1", "balance": 0}, ConditionExpression=Attr("id").not_exists())
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    accounts.put_item(Item={"id": "acct-2", "balance": 5}, ConditionExpression=Attr("id").not_exists())
    accounts.delete_item(
        Key={"id": "acct-2"},
        ConditionExpression=Attr("balance").between(1, 10) | Attr("status").is_in(["closed"]),
    )
    assert "Item" not in accounts.get_item(Key={"id": "acct-2"})
    got = accounts.get_item(Key={"id": "acct-1"}, ProjectionExpression="balance, #s", ExpressionAttributeNames={"#s": "status"})
    assert got["Item"] == {"balance": 100, "status": "open"}
