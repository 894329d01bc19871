"""Network isolation end to end: the walkthrough of scenarios/network-isolation-cli.md with
the real AWS CLI, and reference scenarios A3, A5-A8 and A10, with the client's source address
chosen by binding a 127.x address (a VPC 127.10.0.0/16 describes real address space on this
machine). The CLI runs unchanged; only its sockets are bound to the chosen source.
"""

import json
import subprocess
import sys

import pytest

from conftest import REGION

ACCOUNT = "000000000000"
PUBLIC = "127.0.0.1"
IN_X = "127.10.1.5"
IN_Y = "127.20.1.5"
NO_ROUTE = "127.10.2.5"

# Runs the AWS CLI (awscli's own entry point) with every connection bound to a source address.
CLI_FROM = """
import sys
import urllib3.connection as connection
original = connection.HTTPConnection.__init__
def bound(self, *args, **kwargs):
    kwargs["source_address"] = (SOURCE, 0)
    original(self, *args, **kwargs)
connection.HTTPConnection.__init__ = bound
from awscli.clidriver import main
sys.exit(main())
"""


def aws(cove, env, *args, source=PUBLIC, check=True, endpoint=None):
    """The AWS CLI against Cove from `source`; returns (exit code, JSON or None, stderr)."""
    code = CLI_FROM.replace("SOURCE", repr(source))
    # Refused connections are expected here; retrying them only costs time.
    env = {**env, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "legacy"}
    proc = subprocess.run(
        [sys.executable, "-c", code, "--endpoint-url", endpoint or cove.endpoint, "--output", "json", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} from {source} failed: {proc.stderr}")
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out, proc.stderr


def denied(cove, env, source, *args):
    code, _, err = aws(cove, env, *args, source=source, check=False)
    assert code != 0, f"{args} from {source} was allowed"
    return err.strip()


def user_env(env, key):
    out = dict(env)
    out["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    out["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    return out


def new_user(cove, env, name, *policies):
    aws(cove, env, "iam", "create-user", "--user-name", name)
    for i, policy in enumerate(policies):
        aws(cove, env, "iam", "put-user-policy", "--user-name", name, "--policy-name", f"p{i}",
            "--policy-document", json.dumps(policy))
    return aws(cove, env, "iam", "create-access-key", "--user-name", name)[1]["AccessKey"]


def vpc_with_gateway(cove, env, cidr, subnet_cidr):
    """A VPC with one subnet whose main route table routes DynamoDB to a gateway endpoint."""
    vpc = aws(cove, env, "ec2", "create-vpc", "--cidr-block", cidr)[1]["Vpc"]["VpcId"]
    aws(cove, env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", subnet_cidr)
    tables = aws(cove, env, "ec2", "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc}")[1]
    main = tables["RouteTables"][0]["RouteTableId"]
    endpoint = aws(
        cove, env, "ec2", "create-vpc-endpoint", "--vpc-id", vpc,
        "--service-name", f"com.amazonaws.{REGION}.dynamodb", "--route-table-ids", main,
    )[1]["VpcEndpoint"]
    return vpc, main, endpoint


GET = ["dynamodb", "get-item", "--table-name", "BookCollection",
       "--key", '{"Author": {"S": "Ann"}, "BookTitle": {"S": "Tides"}}']
PUT = ["dynamodb", "put-item", "--table-name", "BookCollection",
       "--item", '{"Author": {"S": "Bo"}, "BookTitle": {"S": "Ink"}}']


@pytest.fixture
def network(cove, aws_env):
    aws(cove, aws_env, "dynamodb", "create-table", "--table-name", "BookCollection",
        "--attribute-definitions", "AttributeName=Author,AttributeType=S", "AttributeName=BookTitle,AttributeType=S",
        "--key-schema", "AttributeName=Author,KeyType=HASH", "AttributeName=BookTitle,KeyType=RANGE",
        "--provisioned-throughput", "ReadCapacityUnits=5,WriteCapacityUnits=5")
    aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "BookCollection",
        "--item", '{"Author": {"S": "Ann"}, "BookTitle": {"S": "Tides"}}')
    x = vpc_with_gateway(cove, aws_env, "127.10.0.0/16", "127.10.1.0/24")
    y = vpc_with_gateway(cove, aws_env, "127.20.0.0/16", "127.20.1.0/24")
    return {"x": x, "y": y}


def test_gateway_endpoint_is_created_as_aws_creates_it(cove, aws_env, network):
    """Scenario A3: Gateway is the default type; available; the 2008-10-17 default policy."""
    vpc, main, endpoint = network["x"]
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["State"] == "available"
    assert endpoint["VpcEndpointId"].startswith("vpce-") and len(endpoint["VpcEndpointId"]) == 22
    assert json.loads(endpoint["PolicyDocument"]) == {
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }
    assert endpoint["DnsEntries"] == [] and endpoint["RouteTableIds"] == [main]
    routes = aws(cove, aws_env, "ec2", "describe-route-tables", "--route-table-ids", main)[1]["RouteTables"][0]["Routes"]
    prefix_lists = aws(cove, aws_env, "ec2", "describe-prefix-lists")[1]["PrefixLists"]
    dynamodb_pl = next(p for p in prefix_lists if p["PrefixListName"] == f"com.amazonaws.{REGION}.dynamodb")
    assert {"DestinationPrefixListId": dynamodb_pl["PrefixListId"], "GatewayId": endpoint["VpcEndpointId"],
            "Origin": "CreateRoute", "State": "active"} in routes
    found = aws(cove, aws_env, "ec2", "describe-vpc-endpoints", "--filters", f"Name=vpc-id,Values={vpc}")[1]
    assert [e["VpcEndpointId"] for e in found["VpcEndpoints"]] == [endpoint["VpcEndpointId"]]
    services = aws(cove, aws_env, "ec2", "describe-vpc-endpoint-services")[1]
    assert f"com.amazonaws.{REGION}.dynamodb" in services["ServiceNames"]
    err = denied(cove, aws_env, PUBLIC, "ec2", "describe-vpcs", "--vpc-ids", "vpc-0123456789abcdef0")
    assert "(InvalidVpcID.NotFound)" in err and "The vpc ID 'vpc-0123456789abcdef0' does not exist" in err
    err = denied(cove, aws_env, PUBLIC, "ec2", "delete-vpc", "--vpc-id", vpc)
    assert "(DependencyViolation)" in err


def test_walkthrough_deny_unless_source_vpce(cove, aws_env, network, tmp_path):
    """scenarios/network-isolation-cli.md and A5: the identity policy denies every DynamoDB
    call that did not come through endpoint X."""
    vpce_x = network["x"][2]["VpcEndpointId"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Allow-DynamoDB-access-from-specific-endpoint", "Effect": "Deny", "Action": "dynamodb:*",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*",
            "Condition": {"StringNotEquals": {"aws:sourceVpce": vpce_x}},
        }],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy, indent=2))
    aws(cove, aws_env, "iam", "create-policy", "--policy-name", "vpcepolicy",
        "--policy-document", f"file://{tmp_path / 'policy.json'}")
    key = new_user(cove, aws_env, "dynauser",
                   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})
    aws(cove, aws_env, "iam", "attach-user-policy", "--user-name", "dynauser",
        "--policy-arn", f"arn:aws:iam::{ACCOUNT}:policy/vpcepolicy")
    env = user_env(aws_env, key)
    expected = (
        "An error occurred (AccessDeniedException) when calling the GetItem operation: "
        f"User: arn:aws:iam::{ACCOUNT}:user/dynauser is not authorized to perform: dynamodb:GetItem "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/BookCollection "
        "with an explicit deny in an identity-based policy"
    )
    assert denied(cove, env, PUBLIC, *GET) == expected
    _, out, _ = aws(cove, env, *GET, source=IN_X)
    assert out["Item"]["BookTitle"] == {"S": "Tides"}
    assert denied(cove, env, IN_Y, *GET) == expected


def test_endpoint_policies_allow_and_deny(cove, aws_env, network):
    """A6 and A7: the endpoint policy must allow too, and its explicit Deny wins."""
    vpce_x = network["x"][2]["VpcEndpointId"]
    key = new_user(cove, aws_env, "worker",
                   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})
    env = user_env(aws_env, key)
    only_get = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem", "Resource": "*"}]}
    aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce_x,
        "--policy-document", json.dumps(only_get))
    aws(cove, env, *GET, source=IN_X)
    assert denied(cove, env, IN_X, *PUT).endswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/worker is not authorized to perform: dynamodb:PutItem "
        f"on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/BookCollection "
        "because no VPC endpoint policy allows the dynamodb:PutItem action"
    )
    # The public path does not pass through the endpoint, so its policy does not apply.
    aws(cove, env, *PUT, source=PUBLIC)
    # Even the root user is held by an endpoint policy.
    assert "because no VPC endpoint policy allows the dynamodb:PutItem action" in denied(cove, aws_env, IN_X, *PUT)
    deny_table = {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "dynamodb:*",
         "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/BookCollection"},
    ]}
    aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce_x,
        "--policy-document", json.dumps(deny_table))
    assert denied(cove, env, IN_X, *GET).endswith("with an explicit deny in a VPC endpoint policy")
    aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce_x, "--reset-policy")
    aws(cove, env, *GET, source=IN_X)
    code, _, err = aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce_x,
                       "--policy-document", '{"Statement": [{"Effect": "Allow"}]}', check=False)
    assert code != 0 and "MalformedPolicyDocument" in err


def test_source_ip_is_absent_through_an_endpoint(cove, aws_env, network):
    """A8: through an endpoint there is no aws:SourceIp, so a Deny on NotIpAddress holds for
    every endpoint caller. Per IAM's documented rule an absent key makes `...IfExists` true as
    well (the reference's A8 expects the opposite; IAM's condition-operator page is followed
    here). Exempting endpoint traffic takes a Null check on aws:SourceVpce."""
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}

    def deny(condition):
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "dynamodb:*", "Resource": "*", "Condition": condition}]}

    ranges = ["203.0.113.0/24", "127.0.0.0/8"]
    strict = deny({"NotIpAddress": {"aws:SourceIp": ranges}})
    if_exists = deny({"NotIpAddressIfExists": {"aws:SourceIp": ranges}})
    exempt = deny({"NotIpAddress": {"aws:SourceIp": ranges}, "Null": {"aws:SourceVpce": "true"}})
    for name, policy, via_endpoint_allowed in [("strict", strict, False), ("ifexists", if_exists, False),
                                                ("exempt", exempt, True)]:
        env = user_env(aws_env, new_user(cove, aws_env, name, allow, policy))
        aws(cove, env, *GET, source=PUBLIC)
        if via_endpoint_allowed:
            aws(cove, env, *GET, source=IN_X)
        else:
            assert denied(cove, env, IN_X, *GET).endswith("with an explicit deny in an identity-based policy")


def test_describe_endpoints_is_authorized_only_through_an_endpoint(cove, aws_env, network):
    """A10: on the public path DescribeEndpoints needs no permission; through an endpoint it
    needs IAM's and the endpoint policy's."""
    env = user_env(aws_env, new_user(cove, aws_env, "nobody"))
    _, out, _ = aws(cove, env, "dynamodb", "describe-endpoints", source=PUBLIC)
    assert out["Endpoints"][0]["CachePeriodInMinutes"] == 1440
    assert "dynamodb:DescribeEndpoints" in denied(cove, env, IN_X, "dynamodb", "describe-endpoints")


def test_sources_without_a_route_are_refused_and_headers_change_nothing(cove, aws_env, network):
    vpc = network["x"][0]
    subnet = aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "127.10.2.0/24")[1]["Subnet"]
    table = aws(cove, aws_env, "ec2", "create-route-table", "--vpc-id", vpc)[1]["RouteTable"]["RouteTableId"]
    aws(cove, aws_env, "ec2", "associate-route-table", "--route-table-id", table, "--subnet-id", subnet["SubnetId"])
    # That subnet's route table leads nowhere: the connection is refused, as in AWS no packet
    # would arrive.
    err = denied(cove, aws_env, NO_ROUTE, *GET)
    assert "Could not connect" in err or "Connection was closed" in err or "reset" in err.lower(), err
    # An internet gateway route opens the public path for it.
    igw = aws(cove, aws_env, "ec2", "create-internet-gateway")[1]["InternetGateway"]["InternetGatewayId"]
    aws(cove, aws_env, "ec2", "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc)
    aws(cove, aws_env, "ec2", "create-route", "--route-table-id", table, "--destination-cidr-block", "0.0.0.0/0",
        "--gateway-id", igw)
    aws(cove, aws_env, *GET, source=NO_ROUTE)
    # Deleting the endpoint leaves subnet X without a route: refused.
    aws(cove, aws_env, "ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", network["x"][2]["VpcEndpointId"])
    denied(cove, aws_env, IN_X, *GET)


def test_forged_headers_give_no_endpoint_identity(cove, aws_env, network):
    """Network facts come from the connection: a public client naming the endpoint's address
    in X-Forwarded-For, or an endpoint's DNS name in Host, is still on the public path."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    vpce_x = network["x"][2]["VpcEndpointId"]
    key = new_user(cove, aws_env, "forger",
                   {"Version": "2012-10-17", "Statement": [
                       {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceVpce": vpce_x}}}]})
    ddb = boto3.client("dynamodb", endpoint_url=cove.endpoint, region_name=REGION,
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                       config=Config(retries={"max_attempts": 1}))

    def forge(request, **_):
        request.headers["X-Forwarded-For"] = IN_X
        request.headers["Forwarded"] = f"for={IN_X}"
        request.headers["Host"] = f"{vpce_x}-abcd1234.dynamodb.{REGION}.vpce.amazonaws.com"

    ddb.meta.events.register("before-sign.dynamodb.*", forge)
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName="BookCollection", Key={"Author": {"S": "Ann"}, "BookTitle": {"S": "Tides"}})
    assert e.value.response["Error"]["Message"].endswith(
        "because no identity-based policy allows the dynamodb:GetItem action"
    )


def test_security_groups_and_their_rules(cove, aws_env, network):
    vpc = network["x"][0]
    group = aws(cove, aws_env, "ec2", "create-security-group", "--group-name", "onprem",
                "--description", "on-premises clients", "--vpc-id", vpc)[1]["GroupId"]
    assert group.startswith("sg-")
    aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
        "--protocol", "tcp", "--port", "443", "--cidr", "192.0.2.0/24")
    aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
        "--ip-permissions", "IpProtocol=tcp,FromPort=8000,ToPort=8010,IpRanges=[{CidrIp=127.30.0.0/16}]")
    err = denied(cove, aws_env, PUBLIC, "ec2", "authorize-security-group-ingress", "--group-id", group,
                 "--protocol", "tcp", "--port", "443", "--cidr", "192.0.2.0/24")
    assert "(InvalidPermission.Duplicate)" in err
    found = aws(cove, aws_env, "ec2", "describe-security-groups", "--group-ids", group)[1]["SecurityGroups"][0]
    assert found["GroupName"] == "onprem" and found["VpcId"] == vpc
    assert {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), p["IpRanges"][0]["CidrIp"])
            for p in found["IpPermissions"]} == {("tcp", 443, 443, "192.0.2.0/24"), ("tcp", 8000, 8010, "127.30.0.0/16")}
    assert found["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    aws(cove, aws_env, "ec2", "revoke-security-group-ingress", "--group-id", group,
        "--protocol", "tcp", "--port", "443", "--cidr", "192.0.2.0/24")
    found = aws(cove, aws_env, "ec2", "describe-security-groups", "--group-ids", group)[1]["SecurityGroups"][0]
    assert len(found["IpPermissions"]) == 1
    err = denied(cove, aws_env, PUBLIC, "ec2", "revoke-security-group-ingress", "--group-id", group,
                 "--protocol", "tcp", "--port", "443", "--cidr", "192.0.2.0/24")
    assert "(InvalidPermission.NotFound)" in err
    # Each VPC's default group admits its own members only.
    default = aws(cove, aws_env, "ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={vpc}",
                  "Name=group-name,Values=default")[1]["SecurityGroups"][0]
    assert default["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == default["GroupId"]
    assert "(CannotDelete)" in denied(cove, aws_env, PUBLIC, "ec2", "delete-security-group", "--group-id", default["GroupId"])
    aws(cove, aws_env, "ec2", "delete-security-group", "--group-id", group)
    assert "(InvalidGroup.NotFound)" in denied(cove, aws_env, PUBLIC, "ec2", "describe-security-groups", "--group-ids", group)


def test_interface_endpoint_listens_on_its_subnets_behind_its_security_groups(tmp_path, aws_env):
    """Interface endpoints are listeners: one address per subnet, guarded by the endpoint's
    security groups at accept; requests through them carry aws:SourceVpce."""
    import socket
    import time

    from conftest import Cove

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cove = Cove(tmp_path / "data", extra_args=["--endpoint-port", str(port), "--endpoint-http"])
    try:
        aws(cove, aws_env, "dynamodb", "create-table", "--table-name", "plays",
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST")
        item = {"pk": {"S": "64.0"}, "sk": {"S": "2014-01-02T09:44:24Z"}, "data": {"S": "208356596"}, "type": {"S": "sample"}}
        aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "plays", "--item", json.dumps(item))
        vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.50.0.0/16")[1]["Vpc"]["VpcId"]
        subnets = [
            aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr,
                "--availability-zone", zone)[1]["Subnet"]["SubnetId"]
            for cidr, zone in [("127.50.1.0/24", f"{REGION}a"), ("127.50.2.0/24", f"{REGION}b")]
        ]
        group = aws(cove, aws_env, "ec2", "create-security-group", "--group-name", "onprem",
                    "--description", "on-premises", "--vpc-id", vpc)[1]["GroupId"]
        aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
            "--protocol", "tcp", "--port", str(port), "--cidr", "127.60.0.0/16")
        endpoint = aws(cove, aws_env, "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface",
                       "--vpc-id", vpc, "--service-name", f"com.amazonaws.{REGION}.dynamodb",
                       "--subnet-ids", *subnets, "--security-group-ids", group)[1]["VpcEndpoint"]
        vpce = endpoint["VpcEndpointId"]
        assert endpoint["VpcEndpointType"] == "Interface" and sorted(endpoint["SubnetIds"]) == sorted(subnets)
        assert len(endpoint["NetworkInterfaceIds"]) == 2 and endpoint["Groups"] == [{"GroupId": group, "GroupName": "onprem"}]
        names = [d["DnsName"] for d in endpoint["DnsEntries"]]
        assert len(names) == 3 and names[0].startswith(f"{vpce}-") and names[0].endswith(f".dynamodb.{REGION}.vpce.amazonaws.com")
        assert names[1].endswith(f"-{REGION}a.dynamodb.{REGION}.vpce.amazonaws.com")
        assert endpoint["PolicyDocument"] == (
            '{\n  "Statement": [\n    {\n      "Action": "*", \n      "Effect": "Allow", \n'
            '      "Principal": "*", \n      "Resource": "*"\n    }\n  ]\n}'
        )
        key = new_user(cove, aws_env, "onprem", {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": vpce}}}]})
        env = user_env(aws_env, key)
        get = ["dynamodb", "get-item", "--table-name", "plays",
               "--key", '{"pk": {"S": "64.0"}, "sk": {"S": "2014-01-02T09:44:24Z"}}']
        # Each network interface takes the first address after the four AWS reserves.
        via = [f"http://127.50.1.4:{port}", f"http://127.50.2.4:{port}"]
        deadline = time.time() + 5
        while True:
            code, out, err = aws(cove, env, *get, source="127.60.0.9", endpoint=via[0], check=False)
            if code == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert code == 0, err
        assert out["Item"] == item
        assert aws(cove, env, *get, source="127.60.0.9", endpoint=via[1])[1]["Item"] == item
        # The regional listener is not the endpoint: the condition fails there.
        assert "AccessDeniedException" in denied(cove, env, PUBLIC, *get)
        # A source the security group does not admit is refused at connection.
        code, _, err = aws(cove, env, *get, source=PUBLIC, endpoint=via[0], check=False)
        assert code != 0 and "AccessDenied" not in err
        # The endpoint serves DynamoDB only.
        code, _, err = aws(cove, env, "sts", "get-caller-identity", source="127.60.0.9", endpoint=via[0], check=False)
        assert code != 0
        # A deleted endpoint stops accepting connections.
        aws(cove, aws_env, "ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", vpce)
        time.sleep(0.5)
        with pytest.raises(OSError):
            socket.create_connection(("127.50.1.4", port), timeout=2).close()
    finally:
        cove.stop()


NLB_HEADER = bytes.fromhex(
    "0d0a0d0a000d0a515549540a21110054ac1f0771ac1f0a1fc8f20050030004e8d6892dea001701767063652d3038643262663135666163353030316339040024"
) + bytes(36)


def signed_request(endpoint, key, target, body):
    """A SigV4-signed DynamoDB request as raw HTTP/1.1 bytes."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    payload = json.dumps(body)
    request = AWSRequest(method="POST", url=endpoint + "/", data=payload, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}"})
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "dynamodb", REGION).add_auth(request)
    host = endpoint.split("://", 1)[1]
    lines = [f"POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n" + payload).encode()


def exchange(endpoint, source, data):
    """Sends `data` from `source` and returns everything the server answers before closing."""
    import socket

    host, port = endpoint.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0)) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_proxy_protocol_from_trusted_proxies_only(tmp_path, aws_env):
    """Proxy Protocol on the regional listener: a trusted proxy's header supplies the client
    address and AWS's endpoint TLV (the real NLB vector of reference §3.7); an untrusted peer's
    header, a malformed header and a trusted peer without one close the connection."""
    from conftest import Cove

    cove = Cove(tmp_path / "data", extra_args=["--trusted-proxy", "127.70.0.0/16"])
    try:
        aws(cove, aws_env, "dynamodb", "create-table", "--table-name", "plays",
            "--attribute-definitions", "AttributeName=pk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
        aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "plays", "--item", '{"pk": {"S": "64.0"}}')
        key = new_user(cove, aws_env, "behind-nlb", {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-08d2bf15fac5001c9",
                                           "aws:VpcSourceIp": "172.31.7.113"}}}]})
        request = signed_request(cove.endpoint, key, "GetItem", {"TableName": "plays", "Key": {"pk": {"S": "64.0"}}})

        answer = exchange(cove.endpoint, "127.70.0.1", NLB_HEADER + request)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"64.0"' in answer
        # Without the endpoint TLV (a v1 header) the condition fails: AccessDenied, not a close.
        v1 = b"PROXY TCP4 172.31.7.113 127.0.0.1 51442 8000\r\n"
        answer = exchange(cove.endpoint, "127.70.0.1", v1 + request)
        assert answer.startswith(b"HTTP/1.1 400") and b"AccessDeniedException" in answer
        # A LOCAL header (health checks) is accepted; the proxy then speaks for itself.
        local = bytes.fromhex("0d0a0d0a000d0a515549540a20000000")
        answer = exchange(cove.endpoint, "127.70.0.1", local + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200") and b"healthy" in answer
        # Closed without an answer: a trusted peer without a header, a malformed header, a
        # tampered one (CRC32C), and an untrusted peer sending a header.
        assert exchange(cove.endpoint, "127.70.0.1", request) == b""
        assert exchange(cove.endpoint, "127.70.0.1", b"PROXY TCP4 nonsense\r\n" + request) == b""
        tampered = bytearray(NLB_HEADER)
        tampered[19] ^= 1
        assert exchange(cove.endpoint, "127.70.0.1", bytes(tampered) + request) == b""
        assert exchange(cove.endpoint, PUBLIC, NLB_HEADER + request) == b""
        # An untrusted peer speaking plain HTTP is served as before (and denied by the policy).
        answer = exchange(cove.endpoint, PUBLIC, request)
        assert answer.startswith(b"HTTP/1.1 400") and b"AccessDeniedException" in answer
    finally:
        cove.stop()


def test_modify_interface_endpoint_subnets_and_security_groups(cove, aws_env):
    """ModifyVpcEndpoint on an interface endpoint: subnets add and remove network interfaces
    (one per zone), security groups are added and removed, and refused changes change nothing."""
    vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.52.0.0/16")[1]["Vpc"]["VpcId"]
    a, a2, b = [
        aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr,
            "--availability-zone", zone)[1]["Subnet"]["SubnetId"]
        for cidr, zone in [("127.52.1.0/24", f"{REGION}a"), ("127.52.3.0/24", f"{REGION}a"), ("127.52.2.0/24", f"{REGION}b")]
    ]
    extra = aws(cove, aws_env, "ec2", "create-security-group", "--group-name", "extra",
                "--description", "extra", "--vpc-id", vpc)[1]["GroupId"]
    vpce = aws(cove, aws_env, "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
               "--service-name", f"com.amazonaws.{REGION}.dynamodb", "--subnet-ids", a)[1]["VpcEndpoint"]["VpcEndpointId"]

    def current():
        return aws(cove, aws_env, "ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", vpce)[1]["VpcEndpoints"][0]

    before = current()
    default_group = before["Groups"][0]["GroupId"]
    aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce, "--add-subnet-ids", b,
        "--add-security-group-ids", extra)
    after = current()
    assert sorted(after["SubnetIds"]) == sorted([a, b]) and len(after["NetworkInterfaceIds"]) == 2
    assert after["Groups"] == [{"GroupId": default_group, "GroupName": "default"}, {"GroupId": extra, "GroupName": "extra"}]
    assert len(after["DnsEntries"]) == 3 and after["DnsEntries"][2]["DnsName"].endswith(f"-{REGION}b.dynamodb.{REGION}.vpce.amazonaws.com")
    enis = aws(cove, aws_env, "ec2", "describe-network-interfaces", "--network-interface-ids", *after["NetworkInterfaceIds"])[1]
    assert sorted(i["PrivateIpAddress"] for i in enis["NetworkInterfaces"]) == ["127.52.1.4", "127.52.2.4"]
    assert all(i["Description"] == f"VPC Endpoint Interface {vpce}" for i in enis["NetworkInterfaces"])
    # One subnet per zone; route tables are for gateway endpoints; at least one subnet and
    # one group stay. Each refusal leaves the endpoint as it was.
    assert "(DuplicateSubnetsInSameZone)" in denied(cove, aws_env, PUBLIC, "ec2", "modify-vpc-endpoint",
                                                    "--vpc-endpoint-id", vpce, "--add-subnet-ids", a2)
    main = aws(cove, aws_env, "ec2", "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc}")[1]["RouteTables"][0]["RouteTableId"]
    assert "(InvalidParameter)" in denied(cove, aws_env, PUBLIC, "ec2", "modify-vpc-endpoint",
                                          "--vpc-endpoint-id", vpce, "--add-route-table-ids", main)
    assert "(InvalidParameter)" in denied(cove, aws_env, PUBLIC, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce,
                                          "--remove-subnet-ids", a, b)
    assert "(InvalidParameter)" in denied(cove, aws_env, PUBLIC, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce,
                                          "--remove-security-group-ids", default_group, extra)
    assert current() == after
    # A subnet can replace another in its zone in one call.
    aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce, "--remove-subnet-ids", a,
        "--add-subnet-ids", a2, "--remove-security-group-ids", default_group)
    last = current()
    assert sorted(last["SubnetIds"]) == sorted([a2, b]) and [g["GroupId"] for g in last["Groups"]] == [extra]
    code, _, err = aws(cove, aws_env, "ec2", "describe-network-interfaces", "--network-interface-ids", "eni-0123456789abcdef0", check=False)
    assert code != 0 and "(InvalidNetworkInterfaceID.NotFound)" in err and "eni-0123456789abcdef0" in err
    # An address may be asked for; it must be a usable, free address of the subnet.
    create = ["ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
              "--service-name", f"com.amazonaws.{REGION}.dynamodb"]
    for ip, code in [("127.52.1.2", "InvalidParameterValue"), ("127.52.1.255", "InvalidParameterValue"),
                     ("127.53.1.9", "InvalidParameterValue"), ("127.52.2.4", "InvalidIPAddress.InUse")]:
        subnet = b if ip.startswith("127.52.2.") else a
        assert f"({code})" in denied(cove, aws_env, PUBLIC, *create, "--subnet-configurations", f"SubnetId={subnet},Ipv4={ip}")
    asked = aws(cove, aws_env, *create, "--subnet-configurations", f"SubnetId={a},Ipv4=127.52.1.200")[1]["VpcEndpoint"]
    assert asked["SubnetIds"] == [a]
    eni = aws(cove, aws_env, "ec2", "describe-network-interfaces", "--network-interface-ids", *asked["NetworkInterfaceIds"])[1]
    assert eni["NetworkInterfaces"][0]["PrivateIpAddress"] == "127.52.1.200"


def test_vpc_peering_connections_and_their_errors(cove, aws_env):
    """VPC peering within an account: pending-acceptance until accepted, overlapping CIDRs
    fail at once, answered connections refuse a second answer, deleted ones stay visible."""
    a = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.53.0.0/16")[1]["Vpc"]["VpcId"]
    b = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.54.0.0/16")[1]["Vpc"]["VpcId"]
    overlapping = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.53.128.0/17")[1]["Vpc"]["VpcId"]
    failed = aws(cove, aws_env, "ec2", "create-vpc-peering-connection", "--vpc-id", a, "--peer-vpc-id", overlapping)[1]
    assert failed["VpcPeeringConnection"]["Status"] == {"Code": "failed", "Message": "Overlapping CIDR range"}
    pcx = aws(cove, aws_env, "ec2", "create-vpc-peering-connection", "--vpc-id", a, "--peer-vpc-id", b)[1]["VpcPeeringConnection"]
    assert pcx["Status"] == {"Code": "pending-acceptance", "Message": f"Pending Acceptance by {ACCOUNT}"}
    pcx = pcx["VpcPeeringConnectionId"]
    assert pcx.startswith("pcx-") and len(pcx) == 21
    pending = aws(cove, aws_env, "ec2", "describe-vpc-peering-connections", "--filters",
                  "Name=status-code,Values=pending-acceptance")[1]["VpcPeeringConnections"]
    assert [p["VpcPeeringConnectionId"] for p in pending] == [pcx]
    aws(cove, aws_env, "ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id", pcx)
    assert "(InvalidStateTransition)" in denied(cove, aws_env, PUBLIC, "ec2", "reject-vpc-peering-connection",
                                                "--vpc-peering-connection-id", pcx)
    assert "(InvalidParameterValue)" in denied(cove, aws_env, PUBLIC, "ec2", "create-vpc-peering-connection",
                                               "--vpc-id", a, "--peer-vpc-id", a)
    assert "(InvalidVpcPeeringConnectionID.NotFound)" in denied(
        cove, aws_env, PUBLIC, "ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id", "pcx-0123456789abcdef0")
    aws(cove, aws_env, "ec2", "delete-vpc-peering-connection", "--vpc-peering-connection-id", pcx)
    deleted = aws(cove, aws_env, "ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx)[1]
    assert deleted["VpcPeeringConnections"][0]["Status"] == {"Code": "deleted", "Message": f"Deleted by {ACCOUNT}"}


def test_proxy_protocol_on_an_interface_endpoint(tmp_path, aws_env):
    """A trusted proxy in front of an interface endpoint's listener: the client its header
    names is what the endpoint's security groups judge and what aws:VpcSourceIp says; the
    listener, not the header's TLV, decides aws:SourceVpce."""
    import socket
    import time

    from conftest import Cove

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cove = Cove(tmp_path / "data", extra_args=["--endpoint-port", str(port), "--endpoint-http",
                                               "--trusted-proxy", "127.70.0.0/16"])
    try:
        aws(cove, aws_env, "dynamodb", "create-table", "--table-name", "plays",
            "--attribute-definitions", "AttributeName=pk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
        aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "plays", "--item", '{"pk": {"S": "64.0"}}')
        vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.55.0.0/16")[1]["Vpc"]["VpcId"]
        subnet = aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "127.55.1.0/24")[1]["Subnet"]["SubnetId"]
        group = aws(cove, aws_env, "ec2", "create-security-group", "--group-name", "clients",
                    "--description", "the clients behind the proxy", "--vpc-id", vpc)[1]["GroupId"]
        aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
            "--protocol", "tcp", "--port", str(port), "--cidr", "172.31.0.0/16")
        vpce = aws(cove, aws_env, "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
                   "--service-name", f"com.amazonaws.{REGION}.dynamodb", "--subnet-ids", subnet,
                   "--security-group-ids", group, "--subnet-configurations",
                   f"SubnetId={subnet},Ipv4=127.55.1.20")[1]["VpcEndpoint"]["VpcEndpointId"]
        key = new_user(cove, aws_env, "behind-proxy", {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": vpce, "aws:VpcSourceIp": "172.31.7.113"}}}]})
        # The address asked for with --subnet-configurations.
        via = f"http://127.55.1.20:{port}"
        request = signed_request(via, key, "GetItem", {"TableName": "plays", "Key": {"pk": {"S": "64.0"}}})
        deadline = time.time() + 5
        while True:
            answer = exchange(via, "127.70.0.1", NLB_HEADER + request)
            if answer or time.time() > deadline:
                break
            time.sleep(0.2)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b'"64.0"' in answer
        # The proxy itself, and any client the security group does not admit, get nothing.
        assert exchange(via, "127.70.0.1", request) == b""
        v1 = b"PROXY TCP4 10.9.9.9 127.55.1.20 51442 443\r\n"
        assert exchange(via, "127.70.0.1", v1 + request) == b""
        # An untrusted peer's header closes the connection, whatever it says.
        assert exchange(via, PUBLIC, NLB_HEADER + request) == b""
    finally:
        cove.stop()
