"""Batches and transactions with boto3: the resource API's batch_writer (which sends
BatchWriteItem 25 items at a time and resends UnprocessedItems), batch_get_item, and a
cancelled transaction's reasons as botocore parses them."""

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


@pytest.fixture
def ddb(cove):
    return boto3.resource(
        "dynamodb",
        region_name="us-east-2",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def make_table(ddb, name):
    table = ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


def test_batch_writer_and_batch_get(ddb):
    table = make_table(ddb, "events")
    with table.batch_writer() as writer:
        for i in range(130):
            writer.put_item(Item={"id": f"e{i:03}", "n": i})
        writer.delete_item(Key={"id": "e000"})
    count = table.scan(Select="COUNT")["Count"]
    assert count == 129
    got = ddb.batch_get_item(
        RequestItems={"events": {"Keys": [{"id": "e001"}, {"id": "e129"}, {"id": "nope"}], "ProjectionExpression": "n"}}
    )
    assert sorted(int(i["n"]) for i in got["Responses"]["events"]) == [1, 129]
    assert got["UnprocessedKeys"] == {}


def test_cancelled_transaction_reasons(ddb, cove):
    table = make_table(ddb, "stock")
    table.put_item(Item={"id": "widget", "count": 1})
    # A plain client: the resource's own client would serialize these wire-shaped values again.
    client = boto3.client(
        "dynamodb",
        region_name="us-east-2",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    with pytest.raises(ClientError) as err:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "stock", "Item": {"id": {"S": "order-1"}}}},
                {
                    "Update": {
                        "TableName": "stock",
                        "Key": {"id": {"S": "widget"}},
                        "UpdateExpression": "SET #c = #c - :one",
                        "ConditionExpression": "#c >= :two",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    response = err.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    reasons = response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"id": {"S": "widget"}, "count": {"N": "1"}}
    assert "Item" not in table.get_item(Key={"id": "order-1"})
