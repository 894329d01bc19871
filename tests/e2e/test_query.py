"""Query, Scan and secondary indexes with boto3's resource API and paginators, and the AWS CLI's
automatic paging, as applications and scripts use them."""

import json
import subprocess

import boto3
from boto3.dynamodb.conditions import Attr, Key

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def resource(cove):
    return boto3.resource(
        "dynamodb",
        region_name="us-east-2",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def make_orders(ddb):
    table = ddb.create_table(
        TableName="orders",
        AttributeDefinitions=[
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "order", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "order", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    for customer in ("ann", "bob"):
        for order in range(1, 31):
            table.put_item(
                Item={
                    "customer": customer,
                    "order": order,
                    "status": "open" if order % 3 == 0 else "closed",
                    "total": order * 10,
                    "note": "n" * 10,
                }
            )
    return table


def test_resource_query_with_key_and_attr_conditions(cove):
    table = make_orders(resource(cove))
    got = table.query(
        KeyConditionExpression=Key("customer").eq("ann") & Key("order").between(5, 12),
        FilterExpression=Attr("total").gt(60),
        ProjectionExpression="#o, #t",
        ExpressionAttributeNames={"#o": "order", "#t": "total"},
        ScanIndexForward=False,
    )
    assert [int(i["order"]) for i in got["Items"]] == [12, 11, 10, 9, 8, 7]
    assert got["Count"] == 6 and got["ScannedCount"] == 8
    assert set(got["Items"][0]) == {"order", "total"}

    # The index: hash-only key condition, begins_with is not allowed on it, INCLUDE projection.
    got = table.query(IndexName="by_status", KeyConditionExpression=Key("status").eq("open"))
    assert got["Count"] == 20
    assert all(set(i) == {"customer", "order", "status", "total"} for i in got["Items"])
    assert [int(i["order"]) for i in got["Items"]] == sorted(int(i["order"]) for i in got["Items"])


def test_paginators_walk_every_page(cove):
    make_orders(resource(cove))
    client = boto3.client(
        "dynamodb",
        region_name="us-east-2",
        endpoint_url=cove.endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    pages = list(
        client.get_paginator("query").paginate(
            TableName="orders",
            KeyConditionExpression="customer = :c",
            ExpressionAttributeValues={":c": {"S": "bob"}},
            PaginationConfig={"PageSize": 7},
        )
    )
    assert len(pages) == 5  # 7+7+7+7+2, each of the first four with a LastEvaluatedKey
    orders = [int(i["order"]["N"]) for p in pages for i in p["Items"]]
    assert orders == list(range(1, 31))
    seen = []
    for segment in range(3):
        for page in client.get_paginator("scan").paginate(
            TableName="orders", Segment=segment, TotalSegments=3, PaginationConfig={"PageSize": 4}
        ):
            seen.extend((i["customer"]["S"], int(i["order"]["N"])) for i in page["Items"])
    assert sorted(seen) == sorted((c, o) for c in ("ann", "bob") for o in range(1, 31))


def test_cli_scan_pages_automatically(cove, aws_env):
    make_orders(resource(cove))
    out = subprocess.run(
        [
            "aws", "--endpoint-url", cove.endpoint, "--output", "json", "dynamodb", "scan",
            "--table-name", "orders", "--page-size", "9",
            "--filter-expression", "#s = :s", "--expression-attribute-names", '{"#s": "status"}',
            "--expression-attribute-values", '{":s": {"S": "open"}}',
        ],
        env=aws_env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["Count"] == 20 and body["ScannedCount"] == 60
