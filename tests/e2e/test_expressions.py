"""UpdateItem, conditions and projections through boto3's resource API, whose Attr/Key
condition builders generate the ConditionExpression and its #n/:v placeholders themselves."""

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


@pytest.fixture
def orders(cove):
    ddb = boto3.resource(
        "dynamodb",
        region_name=REGION,
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    table = ddb.create_table(
        TableName="orders",
        AttributeDefinitions=[
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "order", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(
        Item={
            "customer": "ann",
            "order": 1,
            "status": "open",
            "total": Decimal("10.10"),
            "lines": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 1}],
            "tags": {"gift"},
            "address": {"city": "Lisbon", "zip": "1000"},
        }
    )
    return table


KEY = {"customer": "ann", "order": 1}


def test_update_item_with_generated_condition_returns_all_new(orders):
    out = orders.update_item(
        Key=KEY,
        UpdateExpression=(
            "SET #t = #t + :add, #l[1].qty = :qty, address.city = :city, notes = list_append(if_not_exists(notes, :empty), :note) "
            "REMOVE address.zip ADD tags :tag"
        ),
        # Attr builds "(#n0 = :v0 AND begins_with(#n1, :v1)) AND ..." with its own placeholders;
        # boto3 merges them with the update's names and values.
        ConditionExpression=(
            Attr("status").eq("open")
            & Attr("lines[0].sku").begins_with("a-")
            & Attr("total").between(Decimal("10"), Decimal("20"))
            & Attr("tags").contains("gift")
            & Attr("address.city").exists()
            & Attr("cancelled").not_exists()
            & Attr("lines").size().eq(2)
            & Attr("status").is_in(["open", "pending"])
            & ~Attr("total").lt(5)
        ),
        ExpressionAttributeNames={"#t": "total", "#l": "lines"},
        ExpressionAttributeValues={
            ":add": Decimal("0.2"),
            ":qty": 3,
            ":city": "Porto",
            ":empty": [],
            ":note": ["leave at door"],
            ":tag": {"rush"},
        },
        ReturnValues="ALL_NEW",
    )
    expected = {
        "customer": "ann",
        "order": Decimal(1),
        "status": "open",
        "total": Decimal("10.3"),
        "lines": [{"sku": "a-1", "qty": Decimal(2)}, {"sku": "b-2", "qty": Decimal(3)}],
        "tags": {"gift", "rush"},
        "address": {"city": "Porto"},
        "notes": ["leave at door"],
    }
    assert out["Attributes"] == expected
    assert orders.get_item(Key=KEY, ConsistentRead=True)["Item"] == expected

    # UPDATED_NEW: only the paths the update wrote, nested ones inside their parents.
    out = orders.update_item(
        Key=KEY,
        UpdateExpression="SET #t = #t - :sub, address.city = :city",
        ConditionExpression=Attr("address.city").eq("Porto"),
        ExpressionAttributeNames={"#t": "total"},
        ExpressionAttributeValues={":sub": Decimal("0.3"), ":city": "Braga"},
        ReturnValues="UPDATED_NEW",
    )
    assert out["Attributes"] == {"total": Decimal(10), "address": {"city": "Braga"}}


def test_failing_generated_condition_raises_and_changes_nothing(orders):
    before = orders.get_item(Key=KEY, ConsistentRead=True)["Item"]
    failing = [
        Attr("status").eq("closed"),
        Attr("total").gt(Decimal("10.10")),
        Attr("tags").contains("rush"),
        Attr("status").exists() & Attr("nope").exists(),
        Attr("lines").size().gte(3) | Attr("status").ne("open"),
        Attr("address.city").begins_with("Po"),
        Attr("total").attribute_type("S"),
    ]
    for condition in failing:
        with pytest.raises(ClientError) as err:
            orders.update_item(
                Key=KEY,
                UpdateExpression="SET touched = :yes",
                ConditionExpression=condition,
                ExpressionAttributeValues={":yes": True},
            )
        error = err.value.response["Error"]
        assert error["Code"] == "ConditionalCheckFailedException", condition.get_expression()
        assert error["Message"] == "The conditional request failed"
    assert orders.get_item(Key=KEY, ConsistentRead=True)["Item"] == before

    # The same on put and delete, and the item comes back on request.
    with pytest.raises(ClientError) as err:
        orders.put_item(Item={**KEY, "status": "replaced"}, ConditionExpression=Attr("customer").not_exists())
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as err:
        orders.delete_item(
            Key=KEY,
            ConditionExpression=Attr("status").eq("closed"),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert err.value.response["Item"]["status"] == {"S": "open"}
    assert orders.get_item(Key=KEY, ConsistentRead=True)["Item"] == before

    # A passing condition built with Key() on the key attributes lets the delete through.
    orders.delete_item(Key=KEY, ConditionExpression=Key("customer").eq("ann") & Attr("status").eq("open"))
    assert "Item" not in orders.get_item(Key=KEY, ConsistentRead=True)


def test_get_item_projection_expression(orders):
    got = orders.get_item(
        Key=KEY,
        ProjectionExpression="#s, #l[1].sku, address.city, #o",
        ExpressionAttributeNames={"#s": "status", "#o": "order", "#l": "lines"},
    )
    assert got["Item"] == {
        "status": "open",
        "order": Decimal(1),
        "lines": [{"sku": "b-2"}],
        "address": {"city": "Lisbon"},
    }

    with pytest.raises(ClientError) as err:
        orders.get_item(Key=KEY, ProjectionExpression="status")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == (
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: status"
    )


def test_update_validation_error_texts(orders):
    cases = [
        (
            {"UpdateExpression": "SET a = :v, a.b = :v", "ExpressionAttributeValues": {":v": 1}},
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite "
            "one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            {"UpdateExpression": "SET #k = :v", "ExpressionAttributeNames": {"#k": "order"}, "ExpressionAttributeValues": {":v": 2}},
            "One or more parameter values were invalid: Cannot update attribute order. This attribute is part of the key",
        ),
        (
            {"UpdateExpression": "ADD #s :v", "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":v": 1}},
            "An operand in the update expression has an incorrect data type",
        ),
        (
            {"UpdateExpression": "SET address.city.street = :v", "ExpressionAttributeValues": {":v": "x"}},
            "The document path provided in the update expression is invalid for update",
        ),
        (
            {"UpdateExpression": "SET x = :v", "ExpressionAttributeValues": {":v": 1, ":w": 2}},
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as err:
            orders.update_item(Key=KEY, **kwargs)
        assert err.value.response["Error"]["Code"] == "ValidationException", kwargs
        assert err.value.response["Error"]["Message"] == message, kwargs
