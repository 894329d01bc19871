"""The PrivateLink walkthrough of scenarios/privatelink-boto3.md with boto3: an interface
endpoint in two subnets of two availability zones, HTTPS with Cove's local CA, the endpoint's
regional DNS name resolved through Cove's DNS responder, and an on-premises client (a source
address the security group admits) reading an item with `endpoint_url` set to that name; then
the same from a peered VPC.

Clients run in a subprocess whose sockets are bound to the chosen source address and whose
name lookups for `*.vpce.amazonaws.com` go to Cove's DNS responder (as an on-premises resolver
forwarding that zone would); nothing else about boto3 is changed.
"""

import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

from conftest import REGION, Cove
from test_network import aws, new_user, user_env

ONPREM = "127.60.0.9"
OUTSIDE = "127.0.0.1"
ITEM = {"pk": {"S": "64.0"}, "sk": {"S": "2014-01-02T09:44:24Z"}, "data": {"S": "208356596"}, "type": {"S": "sample"}}
KEY = {"pk": {"S": "64.0"}, "sk": {"S": "2014-01-02T09:44:24Z"}}


def dns_query(server, name, qtype=1):
    """One DNS query over UDP; returns (rcode, [A record addresses])."""
    qid = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(packet, server)
        data, _ = s.recvfrom(4096)
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    assert rid == qid

    def skip_name(pos):
        while True:
            length = data[pos]
            if length & 0xC0 == 0xC0:
                return pos + 2
            if length == 0:
                return pos + 1
            pos += 1 + length

    pos = 12
    for _ in range(qd):
        pos = skip_name(pos) + 4
    addresses = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _, _, rdlength = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 1:
            addresses.append(socket.inet_ntoa(data[pos:pos + rdlength]))
        pos += rdlength
    return flags & 0xF, sorted(addresses)


# boto3 as the walkthrough uses it, from a bound source address, resolving the endpoint's
# names through Cove's DNS responder.
CLIENT = r"""
import json, socket, sys
import urllib3.connection as connection
sys.path.insert(0, TESTS)
from test_privatelink import dns_query
original_init = connection.HTTPConnection.__init__
def bound(self, *args, **kwargs):
    kwargs["source_address"] = (SOURCE, 0)
    original_init(self, *args, **kwargs)
connection.HTTPConnection.__init__ = bound
system_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, port, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".vpce.amazonaws.com"):
        rcode, addresses = dns_query(DNS, host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port))) for a in addresses]
    return system_getaddrinfo(host, port, *args, **kwargs)
socket.getaddrinfo = getaddrinfo

import boto3
from botocore.config import Config
ddb_client = boto3.client(
    "dynamodb",
    region_name=REGION,
    endpoint_url=URL,
    config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
)
try:
    response = ddb_client.get_item(TableName="plays", Key=KEY)
    print(json.dumps({"Item": response["Item"]}))
except Exception as e:
    print(json.dumps({"Error": type(e).__name__, "Message": str(e)}))
"""


def get_item(ca, env, url, source, dns):
    """boto3's get_item from `source`, trusting the CA file `ca`; the item or the error."""
    script = (CLIENT.replace("TESTS", repr(os.path.dirname(__file__))).replace("SOURCE", repr(source))
              .replace("DNS", repr(dns)).replace("REGION", repr(REGION)).replace("URL", repr(url))
              .replace("KEY", repr(KEY)))
    env = {**env, "AWS_CA_BUNDLE": str(ca)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_state(cove, env, endpoint, state):
    deadline = time.time() + 10
    while True:
        current = aws(cove, env, "ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", endpoint)[1]["VpcEndpoints"][0]
        if current["State"] == state or time.time() > deadline:
            return current
        time.sleep(0.2)


def test_privatelink_walkthrough_with_boto3(tmp_path, aws_env):
    # AWS's port when Cove may bind it (as root, as in CI); another one otherwise.
    port = 443 if os.geteuid() == 0 else free_port()
    dns = ("127.0.0.1", free_port(socket.SOCK_DGRAM))
    cove = Cove(tmp_path / "data", extra_args=["--endpoint-port", str(port), "--dns-listen", f"{dns[0]}:{dns[1]}"])
    # Cove's CA, as `cove ca export` gives it (the same as <data-dir>/ca.pem).
    binary = os.environ.get("COVE_BIN", "target/debug/cove")
    exported = subprocess.run([binary, "ca", "export", "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, check=True).stdout
    assert exported.startswith("-----BEGIN CERTIFICATE-----") and exported == (tmp_path / "data" / "ca.pem").read_text()
    ca = tmp_path / "exported-ca.pem"
    ca.write_text(exported)
    try:
        aws(cove, aws_env, "dynamodb", "create-table", "--table-name", "plays",
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=S",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST")
        aws(cove, aws_env, "dynamodb", "put-item", "--table-name", "plays", "--item", json.dumps(ITEM))
        vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.50.0.0/16")[1]["Vpc"]["VpcId"]
        subnets = [
            aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr,
                "--availability-zone", zone)[1]["Subnet"]["SubnetId"]
            for cidr, zone in [("127.50.1.0/24", f"{REGION}a"), ("127.50.2.0/24", f"{REGION}b")]
        ]
        group = aws(cove, aws_env, "ec2", "create-security-group", "--group-name", "onprem",
                    "--description", "on-premises network", "--vpc-id", vpc)[1]["GroupId"]
        aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
            "--protocol", "tcp", "--port", str(port), "--cidr", "127.60.0.0/16")
        created = aws(cove, aws_env, "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface",
                      "--vpc-id", vpc, "--service-name", f"com.amazonaws.{REGION}.dynamodb",
                      "--subnet-ids", *subnets, "--security-group-ids", group)[1]["VpcEndpoint"]
        vpce = created["VpcEndpointId"]
        # As in AWS, an interface endpoint starts pending and becomes available.
        assert created["State"] == "pending"
        endpoint = wait_state(cove, aws_env, vpce, "available")
        assert endpoint["State"] == "available", endpoint
        regional, zonal_a, zonal_b = [d["DnsName"] for d in endpoint["DnsEntries"]]

        # Cove's DNS responder: the regional name answers both interfaces, each zonal name its own.
        assert dns_query(dns, regional) == (0, ["127.50.1.4", "127.50.2.4"])
        assert dns_query(dns, zonal_a) == (0, ["127.50.1.4"])
        assert dns_query(dns, zonal_b.upper()) == (0, ["127.50.2.4"])
        interfaces = aws(cove, aws_env, "ec2", "describe-network-interfaces", "--filters",
                         f"Name=vpc-id,Values={vpc}")[1]["NetworkInterfaces"]
        assert sorted(i["PrivateIpAddress"] for i in interfaces) == ["127.50.1.4", "127.50.2.4"]
        assert sorted(i["NetworkInterfaceId"] for i in interfaces) == sorted(endpoint["NetworkInterfaceIds"])
        assert all(i["InterfaceType"] == "vpc_endpoint" and i["Groups"][0]["GroupId"] == group for i in interfaces)

        # The on-premises client reads the item through the endpoint: aws:SourceVpce is the
        # endpoint and aws:SourceIp is absent (the Deny on any SourceIp does not apply).
        key = new_user(cove, aws_env, "onprem", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceVpce": vpce}}},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"Null": {"aws:SourceIp": "false"}}}]})
        env = user_env(aws_env, key)
        url = f"https://{regional}" if port == 443 else f"https://{regional}:{port}"
        assert get_item(ca, env, url, ONPREM, dns) == {"Item": ITEM}
        for zonal in (zonal_a, zonal_b):
            zurl = f"https://{zonal}" if port == 443 else f"https://{zonal}:{port}"
            assert get_item(ca, env, zurl, ONPREM, dns) == {"Item": ITEM}

        # A second VPC peered with the endpoint's: its clients reach the endpoint once the
        # peering connection is active and each side routes to the other, as in AWS.
        peered = "127.51.1.9"
        peer_vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.51.0.0/16")[1]["Vpc"]["VpcId"]
        aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", peer_vpc, "--cidr-block", "127.51.1.0/24",
            "--availability-zone", f"{REGION}a")
        aws(cove, aws_env, "ec2", "authorize-security-group-ingress", "--group-id", group,
            "--protocol", "tcp", "--port", str(port), "--cidr", "127.51.0.0/16")
        assert get_item(ca, env, url, peered, dns).get("Error") in ("EndpointConnectionError", "SSLError", "ConnectionClosedError")
        pcx = aws(cove, aws_env, "ec2", "create-vpc-peering-connection", "--vpc-id", peer_vpc,
                  "--peer-vpc-id", vpc)[1]["VpcPeeringConnection"]
        assert pcx["Status"]["Code"] == "pending-acceptance"
        assert pcx["RequesterVpcInfo"]["CidrBlock"] == "127.51.0.0/16" and pcx["AccepterVpcInfo"]["VpcId"] == vpc
        pcx = pcx["VpcPeeringConnectionId"]

        def main_table(v):
            return aws(cove, aws_env, "ec2", "describe-route-tables", "--filters",
                       f"Name=vpc-id,Values={v}")[1]["RouteTables"][0]["RouteTableId"]

        for table, cidr in [(main_table(peer_vpc), "127.50.0.0/16"), (main_table(vpc), "127.51.0.0/16")]:
            aws(cove, aws_env, "ec2", "create-route", "--route-table-id", table, "--destination-cidr-block", cidr,
                "--vpc-peering-connection-id", pcx)
        routes = aws(cove, aws_env, "ec2", "describe-route-tables", "--route-table-ids", main_table(vpc))[1]["RouteTables"][0]["Routes"]
        assert [r["State"] for r in routes if r.get("VpcPeeringConnectionId") == pcx] == ["blackhole"]
        assert "Error" in get_item(ca, env, url, peered, dns)
        accepted = aws(cove, aws_env, "ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id", pcx)[1]
        assert accepted["VpcPeeringConnection"]["Status"]["Code"] == "active"
        assert get_item(ca, env, url, peered, dns) == {"Item": ITEM}

        # A source the security group does not admit is refused at connection: no HTTP answer.
        refused = get_item(ca, env, url, OUTSIDE, dns)
        assert refused.get("Error") in ("EndpointConnectionError", "SSLError", "ConnectionClosedError"), refused
        # Trusting another CA, the endpoint's certificate is refused.
        other = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                "-nodes", "-keyout", str(tmp_path / "other-key.pem"), "-out", str(tmp_path / "other-ca.pem"),
                                "-subj", "/CN=other", "-days", "1"], capture_output=True)
        assert other.returncode == 0, other.stderr
        untrusted = get_item(tmp_path / "other-ca.pem", env, url, ONPREM, dns)
        assert untrusted.get("Error") == "SSLError", untrusted

        # Removing a subnet takes its interface away: its zonal name and its address go.
        aws(cove, aws_env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce, "--remove-subnet-ids", subnets[1])
        deadline = time.time() + 5
        while dns_query(dns, regional)[1] != ["127.50.1.4"] and time.time() < deadline:
            time.sleep(0.1)
        assert dns_query(dns, regional) == (0, ["127.50.1.4"])
        assert dns_query(dns, zonal_b)[0] == 3  # NXDOMAIN
        time.sleep(0.3)
        try:
            socket.create_connection(("127.50.2.4", port), timeout=2, source_address=(ONPREM, 0)).close()
            raise AssertionError("the removed interface still accepts connections")
        except OSError:
            pass
        assert get_item(ca, env, url, ONPREM, dns) == {"Item": ITEM}

        # After a restart the endpoint listens again, with a certificate from the same CA.
        cove.stop()
        cove = Cove(tmp_path / "data", extra_args=["--endpoint-port", str(port), "--dns-listen", f"{dns[0]}:{dns[1]}"])
        assert wait_state(cove, aws_env, vpce, "available")["State"] == "available"
        assert get_item(ca, env, url, ONPREM, dns) == {"Item": ITEM}
        assert get_item(ca, env, url, peered, dns) == {"Item": ITEM}

        # Deleting the peering connection cuts the peered VPC off again.
        aws(cove, aws_env, "ec2", "delete-vpc-peering-connection", "--vpc-peering-connection-id", pcx)
        described = aws(cove, aws_env, "ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx)[1]
        assert described["VpcPeeringConnections"][0]["Status"]["Code"] == "deleted"
        assert "Error" in get_item(ca, env, url, peered, dns)

        # Deleting the endpoint removes its names.
        aws(cove, aws_env, "ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", vpce)
        time.sleep(0.3)
        assert dns_query(dns, regional)[0] == 3
    finally:
        cove.stop()
