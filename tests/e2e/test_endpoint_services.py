"""PrivateLink for any TCP service, end to end with the real AWS CLI (reference scenarios A11
and A12): a provider account publishes two small TCP targets behind a network load balancer
over two zones as an endpoint service with acceptance required; a consumer account that the
provider allows creates an interface endpoint (pendingAcceptance), the provider accepts it,
and traffic flows through the endpoint's network interface and the provider's load balancer;
each target reads the Proxy Protocol v2 header and sees the consumer's source address and the
endpoint's id in AWS's TLV, from the load balancer's own address. A rejected endpoint carries
no traffic. Connect, Accept, Reject and Delete notifications reach a test webhook as SNS's
HTTP notifications, and `cove notifications list` shows them delivered.
"""

import http.server
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

from conftest import REGION, ROOT, Cove
from ppv2_target import Target, call
from test_network import aws, denied, user_env

PROVIDER = "000000000000"
CONSUMER = "111122223333"
CLIENT = "127.82.1.50"
OUTSIDER = "127.83.0.9"
TOPIC = f"arn:aws:sns:{REGION}:{PROVIDER}:vpce-events"


class Webhook:
    """An HTTP server that records every POST (headers and JSON body), as an SNS HTTP
    subscription would receive notifications. It fails the first one (503), so a retry is
    seen."""

    def __init__(self):
        received = self.received = []
        failed = self.failed = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not failed:
                    failed.append(json.loads(body))
                    self.send_response(503)
                    self.end_headers()
                    return
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [json.loads(body["Message"]) for _, body in self.received]

    def wait_for(self, count, seconds=20):
        deadline = time.time() + seconds
        while len(self.received) < count and time.time() < deadline:
            time.sleep(0.1)
        return self.events()


def resolve(server, name, source):
    """Asks `server` (host, port) for the A records of `name` over UDP from `source`:
    (response code, addresses)."""
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(5)
        s.sendto(query, server)
        reply = s.recv(1500)
    rcode, answers = reply[3] & 0x0F, struct.unpack(">H", reply[6:8])[0]
    # The answers follow the question: each a name (labels, or a pointer), type, class, TTL,
    # and the data's length and bytes.
    addresses, at = [], len(query)
    for _ in range(answers):
        while reply[at] != 0 and reply[at] < 0xC0:
            at += 1 + reply[at]
        at += 2 if reply[at] >= 0xC0 else 1
        at += 8  # type, class, TTL
        length = struct.unpack(">H", reply[at:at + 2])[0]
        addresses.append(socket.inet_ntoa(reply[at + 2:at + 2 + length]))
        at += 2 + length
    return rcode, sorted(addresses)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_state(cove, env, endpoint, wanted, seconds=10):
    deadline = time.time() + seconds
    while True:
        state = aws(cove, env, "ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids",
                    endpoint)[1]["VpcEndpoints"][0]["State"]
        if state == wanted or time.time() > deadline:
            return state
        time.sleep(0.2)


BINARY = os.environ.get("COVE_BIN", str(ROOT / "target" / "debug" / "cove"))


def consumer_account(data_dir, env):
    """The consumer account, made with `cove account create`: the CLI environment of its root."""
    created = json.loads(subprocess.run(
        [BINARY, "account", "create", "--account-id", CONSUMER, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout)
    return user_env(env, created)


def two_zone_vpc(cove, env, prefix):
    """A VPC `prefix`.0.0/16 with subnets `prefix`.1.0/24 (zone a) and `prefix`.2.0/24 (b)."""
    vpc = aws(cove, env, "ec2", "create-vpc", "--cidr-block", f"{prefix}.0.0/16")[1]["Vpc"]["VpcId"]
    subnets = [
        aws(cove, env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"{prefix}.{n}.0/24",
            "--availability-zone", f"{REGION}{zone}")[1]["Subnet"]["SubnetId"]
        for n, zone in [(1, "a"), (2, "b")]
    ]
    return vpc, subnets


def test_endpoint_service_with_acceptance_proxy_protocol_and_notifications(tmp_path, aws_env):
    hook = Webhook()
    data_dir = tmp_path / "data"
    dns = ("127.0.0.1", free_port())
    cove = Cove(data_dir, ["--notification-webhook", f"{TOPIC}={hook.url}",
                           "--dns-listen", f"{dns[0]}:{dns[1]}"])
    a = Target("target-a", "127.81.1.10")
    b = Target("target-b", "127.81.2.10")
    env = aws_env
    try:
        consumer = consumer_account(data_dir, env)

        # The provider: a load balancer over two zones, a target group with Proxy Protocol v2,
        # a listener, and an endpoint service over it that requires acceptance.
        _, provider_subnets = two_zone_vpc(cove, env, "127.81")
        vpc = aws(cove, env, "ec2", "describe-subnets", "--subnet-ids", provider_subnets[0])[1]["Subnets"][0]["VpcId"]
        lb = aws(cove, env, "elbv2", "create-load-balancer", "--name", "svc", "--type", "network",
                 "--scheme", "internal", "--subnets", *provider_subnets)[1]["LoadBalancers"][0]["LoadBalancerArn"]
        group = aws(cove, env, "elbv2", "create-target-group", "--name", "svc", "--protocol", "TCP",
                    "--port", str(a.port), "--vpc-id", vpc, "--target-type", "ip",
                    "--health-check-interval-seconds", "5")[1]["TargetGroups"][0]["TargetGroupArn"]
        aws(cove, env, "elbv2", "modify-target-group-attributes", "--target-group-arn", group,
            "--attributes", "Key=proxy_protocol_v2.enabled,Value=true")
        aws(cove, env, "elbv2", "register-targets", "--target-group-arn", group, "--targets",
            f"Id=127.81.1.10,Port={a.port}", f"Id=127.81.2.10,Port={b.port}")
        port = free_port()
        aws(cove, env, "elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "TCP",
            "--port", str(port), "--default-actions", f"Type=forward,TargetGroupArn={group}")

        service = aws(cove, env, "ec2", "create-vpc-endpoint-service-configuration",
                      "--network-load-balancer-arns", lb, "--acceptance-required",
                      "--private-dns-name", "api.example.test")[1]["ServiceConfiguration"]
        service_id, name = service["ServiceId"], service["ServiceName"]
        assert re.fullmatch(r"vpce-svc-[0-9a-f]{17}", service_id)
        assert name == f"com.amazonaws.vpce.{REGION}.{service_id}"
        assert service["AcceptanceRequired"] is True and service["ServiceState"] == "Available"
        assert service["AvailabilityZones"] == [f"{REGION}a", f"{REGION}b"]
        assert service["NetworkLoadBalancerArns"] == [lb]
        assert service["BaseEndpointDnsNames"] == [f"{service_id}.{REGION}.vpce.amazonaws.com"]
        # A load balancer behind a service cannot be deleted, nor back a second service.
        assert "(ResourceInUse)" in denied(cove, env, "127.0.0.1", "elbv2", "delete-load-balancer",
                                           "--load-balancer-arn", lb)
        assert "(InvalidParameter)" in denied(cove, env, "127.0.0.1", "ec2",
                                              "create-vpc-endpoint-service-configuration",
                                              "--network-load-balancer-arns", lb)
        notification = aws(cove, env, "ec2", "create-vpc-endpoint-connection-notification",
                           "--service-id", service_id, "--connection-notification-arn", TOPIC,
                           "--connection-events", "Connect", "Accept", "Reject", "Delete")[1]["ConnectionNotification"]
        assert notification["ConnectionNotificationType"] == "Topic"
        assert notification["ConnectionNotificationState"] == "Enabled"
        assert sorted(notification["ConnectionEvents"]) == ["Accept", "Connect", "Delete", "Reject"]

        # The consumer, not yet allowed, does not see the service and cannot connect to it.
        consumer_vpc, consumer_subnets = two_zone_vpc(cove, consumer, "127.82")
        listed = aws(cove, consumer, "ec2", "describe-vpc-endpoint-services")[1]["ServiceNames"]
        assert name not in listed and f"com.amazonaws.{REGION}.dynamodb" in listed
        endpoint_args = ["ec2", "create-vpc-endpoint", "--vpc-id", consumer_vpc, "--vpc-endpoint-type",
                         "Interface", "--service-name", name, "--subnet-ids", *consumer_subnets]
        assert "(InvalidServiceName)" in denied(cove, consumer, "127.0.0.1", *endpoint_args)

        added = aws(cove, env, "ec2", "modify-vpc-endpoint-service-permissions", "--service-id", service_id,
                    "--add-allowed-principals", f"arn:aws:iam::{CONSUMER}:root")[1]
        assert added["ReturnValue"] is True
        assert added["AddedPrincipals"][0]["PrincipalType"] == "Account"
        allowed = aws(cove, env, "ec2", "describe-vpc-endpoint-service-permissions",
                      "--service-id", service_id)[1]["AllowedPrincipals"]
        assert [p["Principal"] for p in allowed] == [f"arn:aws:iam::{CONSUMER}:root"]
        assert "(InvalidPrincipal)" in denied(cove, env, "127.0.0.1", "ec2", "modify-vpc-endpoint-service-permissions",
                                              "--service-id", service_id, "--add-allowed-principals", "bob")
        details = aws(cove, consumer, "ec2", "describe-vpc-endpoint-services", "--service-names", name)[1]
        detail = details["ServiceDetails"][0]
        assert details["ServiceNames"] == [name]
        assert detail["Owner"] == PROVIDER and detail["AcceptanceRequired"] is True
        assert detail["ServiceType"] == [{"ServiceType": "Interface"}]
        assert detail["PrivateDnsName"] == "api.example.test"
        # DynamoDB has gateway and interface endpoints; endpoint services only interface ones.
        gateways = aws(cove, consumer, "ec2", "describe-vpc-endpoint-services", "--filters",
                       "Name=service-type,Values=Gateway")[1]["ServiceNames"]
        assert gateways == [f"com.amazonaws.{REGION}.dynamodb"]

        # The endpoint's security group admits the consumer VPC on the listener's port.
        group_id = aws(cove, consumer, "ec2", "create-security-group", "--group-name", "svc",
                       "--description", "svc", "--vpc-id", consumer_vpc)[1]["GroupId"]
        aws(cove, consumer, "ec2", "authorize-security-group-ingress", "--group-id", group_id,
            "--protocol", "tcp", "--port", str(port), "--cidr", "127.82.0.0/16")
        endpoint = aws(cove, consumer, *endpoint_args, "--security-group-ids", group_id)[1]["VpcEndpoint"]
        endpoint_id = endpoint["VpcEndpointId"]
        assert endpoint["State"] == "pendingAcceptance"
        assert endpoint["DnsEntries"][0]["DnsName"].endswith(f".{service_id}.{REGION}.vpce.amazonaws.com")
        addresses = [
            i["PrivateIpAddress"]
            for i in aws(cove, consumer, "ec2", "describe-network-interfaces", "--filters",
                         f"Name=vpc-id,Values={consumer_vpc}")[1]["NetworkInterfaces"]
        ]
        assert sorted(addresses) == ["127.82.1.4", "127.82.2.4"]
        # Waiting for acceptance, the endpoint carries nothing.
        try:
            answer = call("127.82.1.4", port, CLIENT)
        except OSError:
            answer = ""
        assert answer == ""

        connections = aws(cove, env, "ec2", "describe-vpc-endpoint-connections", "--filters",
                          "Name=vpc-endpoint-state,Values=pendingAcceptance")[1]["VpcEndpointConnections"]
        assert [(c["VpcEndpointId"], c["VpcEndpointOwner"], c["ServiceId"]) for c in connections] == \
            [(endpoint_id, CONSUMER, service_id)]
        # Only the provider decides, and only the consumer deletes.
        assert "(InvalidVpcEndpointServiceId.NotFound)" in denied(
            cove, consumer, "127.0.0.1", "ec2", "accept-vpc-endpoint-connections",
            "--service-id", service_id, "--vpc-endpoint-ids", endpoint_id)
        refused = aws(cove, env, "ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", endpoint_id)[1]
        assert refused["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"

        accepted = aws(cove, env, "ec2", "accept-vpc-endpoint-connections", "--service-id", service_id,
                       "--vpc-endpoint-ids", endpoint_id)[1]
        assert accepted["Unsuccessful"] == []
        assert wait_state(cove, consumer, endpoint_id, "available") == "available"

        # Traffic flows: zone a's interface reaches zone a's target through the load balancer,
        # whose own address the target sees, with the client and endpoint in the header.
        assert call("127.82.1.4", port, CLIENT) == "target-a"
        assert call("127.82.2.4", port, CLIENT) == "target-b"
        seen = a.proxied()[-1]
        assert seen["peer"] == "127.81.1.4"
        assert seen["source"] == CLIENT
        assert seen["destination"] == ("127.82.1.4", port)
        assert seen["vpce"] == endpoint_id
        # The service's private DNS name resolves to the endpoint in the consumer's VPC only;
        # the endpoint's own names resolve anywhere.
        assert endpoint["PrivateDnsEnabled"] is True
        assert resolve(dns, "api.example.test", CLIENT) == (0, ["127.82.1.4", "127.82.2.4"])
        assert resolve(dns, "api.example.test", "127.0.0.1")[0] == 5  # REFUSED
        assert resolve(dns, endpoint["DnsEntries"][0]["DnsName"], "127.0.0.1") == \
            (0, ["127.82.1.4", "127.82.2.4"])
        # The endpoint's security group turns away sources it does not admit.
        assert call("127.82.1.4", port, source=OUTSIDER) == ""
        # While connections are active, the service cannot be deleted.
        unsuccessful = aws(cove, env, "ec2", "delete-vpc-endpoint-service-configurations",
                           "--service-ids", service_id)[1]["Unsuccessful"]
        assert unsuccessful[0]["Error"]["Code"] == "ExistingVpcEndpointConnections"

        # A second endpoint, rejected, carries no traffic.
        other_vpc, other_subnets = two_zone_vpc(cove, consumer, "127.84")
        second = aws(cove, consumer, "ec2", "create-vpc-endpoint", "--vpc-id", other_vpc, "--vpc-endpoint-type",
                     "Interface", "--service-name", name, "--subnet-ids", other_subnets[0])[1]["VpcEndpoint"]
        rejected = aws(cove, env, "ec2", "reject-vpc-endpoint-connections", "--service-id", service_id,
                       "--vpc-endpoint-ids", second["VpcEndpointId"])[1]
        assert rejected["Unsuccessful"] == []
        assert wait_state(cove, consumer, second["VpcEndpointId"], "rejected") == "rejected"
        try:
            answer = call("127.84.1.4", port, source="127.84.1.50")
        except OSError:
            answer = ""
        assert answer == ""
        # Accepting it now is refused: it is no longer waiting.
        again = aws(cove, env, "ec2", "accept-vpc-endpoint-connections", "--service-id", service_id,
                    "--vpc-endpoint-ids", second["VpcEndpointId"])[1]["Unsuccessful"]
        assert again[0]["ResourceId"] == second["VpcEndpointId"]

        # The consumer deletes its endpoint: the interface stops answering.
        gone = aws(cove, consumer, "ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", endpoint_id)[1]
        assert gone["Unsuccessful"] == []
        time.sleep(0.5)
        try:
            answer = call("127.82.1.4", port, CLIENT)
        except OSError:
            answer = ""
        assert answer == ""

        # Every event reached the webhook as an SNS notification; the first, refused once,
        # came again with the same MessageId. The outbox lists them in the order they
        # happened, each delivered.
        events = hook.wait_for(5)
        expected = [("Connect", endpoint_id, "pendingAcceptance"), ("Accept", endpoint_id, "pending"),
                    ("Connect", second["VpcEndpointId"], "pendingAcceptance"),
                    ("Reject", second["VpcEndpointId"], "rejected"), ("Delete", endpoint_id, "deleted")]
        assert sorted((e["EventType"], e["VpcEndpointId"], e["VpcEndpointState"]) for e in events) == sorted(expected)
        assert {e["ServiceId"] for e in events} == {service_id}
        assert {e["VpcEndpointOwner"] for e in events} == {CONSUMER}
        retried = [body for _, body in hook.received if body["MessageId"] == hook.failed[0]["MessageId"]]
        assert len(retried) == 1 and retried[0]["Message"] == hook.failed[0]["Message"]
        headers, body = hook.received[0]
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-topic-arn"] == TOPIC
        assert body["Type"] == "Notification" and body["TopicArn"] == TOPIC
        assert body["MessageId"] == headers["x-amz-sns-message-id"]
        listed = subprocess.run([BINARY, "notifications", "list", "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=60, check=True).stdout
        lines = [json.loads(line) for line in listed.splitlines()]
        assert [(n["Event"], json.loads(n["Message"])["VpcEndpointId"]) for n in lines] == \
            [(event, endpoint) for event, endpoint, _ in expected]
        assert all(n["Delivered"] for n in lines)
        assert sorted(n["Attempts"] for n in lines) == [1, 1, 1, 1, 2]

        # With no active connection left, the service goes.
        done = aws(cove, env, "ec2", "delete-vpc-endpoint-service-configurations",
                   "--service-ids", service_id)[1]
        assert done["Unsuccessful"] == []
        assert aws(cove, env, "ec2", "describe-vpc-endpoint-service-configurations")[1]["ServiceConfigurations"] == []
    finally:
        a.stop()
        b.stop()
        cove.stop()
        hook.server.shutdown()


def test_peering_across_accounts_reaches_an_endpoint(tmp_path, aws_env):
    """A VPC peering connection between two accounts: the accepter's owner accepts it (the
    requester cannot), both see it with each side's owner, and once active and routed, a
    client in the requester's VPC reaches the accepter's interface endpoint (here to an
    endpoint service that needs no acceptance); deleting the connection cuts it off."""
    data_dir = tmp_path / "data"
    cove = Cove(data_dir)
    env = aws_env
    target = Target("target", "127.86.1.10")
    try:
        consumer = consumer_account(data_dir, env)
        provider_vpc, provider_subnets = two_zone_vpc(cove, env, "127.86")
        lb = aws(cove, env, "elbv2", "create-load-balancer", "--name", "open", "--type", "network",
                 "--scheme", "internal", "--subnets", provider_subnets[0])[1]["LoadBalancers"][0]["LoadBalancerArn"]
        group = aws(cove, env, "elbv2", "create-target-group", "--name", "open", "--protocol", "TCP",
                    "--port", str(target.port), "--vpc-id", provider_vpc,
                    "--target-type", "ip")[1]["TargetGroups"][0]["TargetGroupArn"]
        aws(cove, env, "elbv2", "modify-target-group-attributes", "--target-group-arn", group,
            "--attributes", "Key=proxy_protocol_v2.enabled,Value=true")
        aws(cove, env, "elbv2", "register-targets", "--target-group-arn", group, "--targets",
            f"Id=127.86.1.10,Port={target.port}")
        port = free_port()
        aws(cove, env, "elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "TCP",
            "--port", str(port), "--default-actions", f"Type=forward,TargetGroupArn={group}")
        service = aws(cove, env, "ec2", "create-vpc-endpoint-service-configuration", "--network-load-balancer-arns",
                      lb, "--no-acceptance-required")[1]["ServiceConfiguration"]
        aws(cove, env, "ec2", "modify-vpc-endpoint-service-permissions", "--service-id", service["ServiceId"],
            "--add-allowed-principals", "*")

        # The consumer's endpoint, accepted at once; its group admits the provider's VPC too.
        consumer_vpc, consumer_subnets = two_zone_vpc(cove, consumer, "127.88")
        sg = aws(cove, consumer, "ec2", "create-security-group", "--group-name", "svc", "--description", "svc",
                 "--vpc-id", consumer_vpc)[1]["GroupId"]
        aws(cove, consumer, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp",
            "--port", str(port), "--cidr", "127.86.0.0/16")
        endpoint = aws(cove, consumer, "ec2", "create-vpc-endpoint", "--vpc-id", consumer_vpc, "--vpc-endpoint-type",
                       "Interface", "--service-name", service["ServiceName"], "--subnet-ids", consumer_subnets[0],
                       "--security-group-ids", sg)[1]["VpcEndpoint"]
        assert wait_state(cove, consumer, endpoint["VpcEndpointId"], "available") == "available"
        peered = "127.86.1.50"
        assert call("127.88.1.4", port, peered) == ""

        # The provider asks to peer its VPC with the consumer's; only the consumer accepts.
        pcx = aws(cove, env, "ec2", "create-vpc-peering-connection", "--vpc-id", provider_vpc,
                  "--peer-vpc-id", consumer_vpc, "--peer-owner-id", CONSUMER)[1]["VpcPeeringConnection"]
        assert pcx["Status"] == {"Code": "pending-acceptance", "Message": f"Pending Acceptance by {CONSUMER}"}
        assert pcx["AccepterVpcInfo"]["OwnerId"] == CONSUMER and pcx["RequesterVpcInfo"]["OwnerId"] == PROVIDER
        pcx_id = pcx["VpcPeeringConnectionId"]
        seen = aws(cove, consumer, "ec2", "describe-vpc-peering-connections")[1]["VpcPeeringConnections"]
        assert [(p["VpcPeeringConnectionId"], p["RequesterVpcInfo"]["OwnerId"]) for p in seen] == [(pcx_id, PROVIDER)]
        assert "(OperationNotPermitted)" in denied(cove, env, "127.0.0.1", "ec2", "accept-vpc-peering-connection",
                                                   "--vpc-peering-connection-id", pcx_id)
        accepted = aws(cove, consumer, "ec2", "accept-vpc-peering-connection",
                       "--vpc-peering-connection-id", pcx_id)[1]["VpcPeeringConnection"]
        assert accepted["Status"]["Code"] == "active"
        mine = aws(cove, env, "ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx_id)[1]
        assert mine["VpcPeeringConnections"][0]["Status"]["Code"] == "active"

        def main_table(e, v):
            return aws(cove, e, "ec2", "describe-route-tables", "--filters",
                       f"Name=vpc-id,Values={v}")[1]["RouteTables"][0]["RouteTableId"]

        aws(cove, env, "ec2", "create-route", "--route-table-id", main_table(env, provider_vpc),
            "--destination-cidr-block", "127.88.0.0/16", "--vpc-peering-connection-id", pcx_id)
        # One way is not enough: the answers need a route back.
        assert call("127.88.1.4", port, peered) == ""
        aws(cove, consumer, "ec2", "create-route", "--route-table-id", main_table(consumer, consumer_vpc),
            "--destination-cidr-block", "127.86.0.0/16", "--vpc-peering-connection-id", pcx_id)
        assert call("127.88.1.4", port, peered) == "target"
        assert target.proxied()[-1]["source"] == peered
        assert target.proxied()[-1]["vpce"] == endpoint["VpcEndpointId"]

        # After a restart the service, the endpoint, the peering and the routes are all there.
        cove.stop()
        cove = Cove(data_dir)
        assert wait_state(cove, consumer, endpoint["VpcEndpointId"], "available") == "available"
        configurations = aws(cove, env, "ec2", "describe-vpc-endpoint-service-configurations")[1]
        assert [c["ServiceId"] for c in configurations["ServiceConfigurations"]] == [service["ServiceId"]]
        deadline = time.time() + 5
        while True:
            try:
                answer = call("127.88.1.4", port, peered)
            except OSError:
                answer = ""
            if answer == "target" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert answer == "target"

        # Either side may delete it; then the route is a blackhole again.
        aws(cove, consumer, "ec2", "delete-vpc-peering-connection", "--vpc-peering-connection-id", pcx_id)
        gone = aws(cove, env, "ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx_id)[1]
        assert gone["VpcPeeringConnections"][0]["Status"] == {"Code": "deleted", "Message": f"Deleted by {CONSUMER}"}
        time.sleep(0.3)
        assert call("127.88.1.4", port, peered) == ""
    finally:
        target.stop()
        cove.stop()
