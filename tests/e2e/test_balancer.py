"""Network load balancers end to end with the real AWS CLI (`aws elbv2 …`): a load balancer in
two zones, a TCP target group with Proxy Protocol v2 and health checks, two small TCP targets
started by the test, and a listener. Traffic flows through Cove's L4 proxy to a target of the
listener's zone (or any zone with cross-zone balancing); each target reads the Proxy Protocol
header and sees the client's address; a stopped target is marked unhealthy within the
thresholds and gets no new connection.
"""

import socket
import time

import ppv2_target

from conftest import REGION
from ppv2_target import Target
from test_network import PUBLIC, aws, denied

CLIENT = "127.60.0.7"


def call(address, port, source=CLIENT):
    """One connection through the balancer; what the target answered."""
    return ppv2_target.call(address, port, source)


def health(cove, env, group):
    out = aws(cove, env, "elbv2", "describe-target-health", "--target-group-arn", group)[1]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in out["TargetHealthDescriptions"]}


def wait_health(cove, env, group, wanted, seconds=30):
    deadline = time.time() + seconds
    while True:
        current = health(cove, env, group)
        if current == wanted or time.time() > deadline:
            return current
        time.sleep(1)


def test_network_load_balancer_forwards_with_proxy_protocol_and_health_checks(cove, aws_env):
    a = Target("target-a", "127.80.1.10")
    b = Target("target-b", "127.80.2.10")
    try:
        vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.80.0.0/16")[1]["Vpc"]["VpcId"]
        subnets = [
            aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr,
                "--availability-zone", zone)[1]["Subnet"]["SubnetId"]
            for cidr, zone in [("127.80.1.0/24", f"{REGION}a"), ("127.80.2.0/24", f"{REGION}b")]
        ]
        lb = aws(cove, aws_env, "elbv2", "create-load-balancer", "--name", "web", "--type", "network",
                 "--scheme", "internal", "--subnets", *subnets)[1]["LoadBalancers"][0]
        assert lb["Type"] == "network" and lb["State"]["Code"] == "active" and lb["VpcId"] == vpc
        addresses = [z["LoadBalancerAddresses"][0]["PrivateIPv4Address"] for z in lb["AvailabilityZones"]]
        assert addresses == ["127.80.1.4", "127.80.2.4"]
        assert lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:{REGION}:000000000000:loadbalancer/net/web/")
        assert "(DuplicateLoadBalancerName)" in denied(cove, aws_env, PUBLIC, "elbv2", "create-load-balancer",
                                                       "--name", "web", "--type", "network", "--subnets", subnets[0])
        assert "(LoadBalancerNotFound)" in denied(cove, aws_env, PUBLIC, "elbv2", "describe-load-balancers",
                                                  "--names", "web", "nosuchbalancer")
        group = aws(cove, aws_env, "elbv2", "create-target-group", "--name", "web", "--protocol", "TCP",
                    "--port", str(a.port), "--vpc-id", vpc, "--target-type", "ip",
                    "--health-check-protocol", "TCP", "--health-check-interval-seconds", "5",
                    "--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")[1]["TargetGroups"][0]
        arn = group["TargetGroupArn"]
        attributes = aws(cove, aws_env, "elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
                         "--attributes", "Key=proxy_protocol_v2.enabled,Value=true")[1]["Attributes"]
        assert {"Key": "proxy_protocol_v2.enabled", "Value": "true"} in attributes
        aws(cove, aws_env, "elbv2", "register-targets", "--target-group-arn", arn, "--targets",
            f"Id=127.80.1.10,Port={a.port}", f"Id=127.80.2.10,Port={b.port}")
        # Targets of a group no listener uses carry no traffic.
        assert set(health(cove, aws_env, arn).values()) == {"unused"}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        aws(cove, aws_env, "elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"],
            "--protocol", "TCP", "--port", str(port), "--default-actions", f"Type=forward,TargetGroupArn={arn}")

        # Without cross-zone balancing each address forwards to its own zone's target, and
        # the target's Proxy Protocol header names the client and the balancer's address.
        deadline = time.time() + 5
        while True:
            try:
                answer = call("127.80.1.4", port)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert answer == "target-a"
        assert call("127.80.2.4", port) == "target-b"
        proxied = a.proxied()[-1]
        assert proxied["source"] == CLIENT and proxied["destination"] == ("127.80.1.4", port)
        # Targets see the balancer's own address as the connection's source.
        assert proxied["peer"] == "127.80.1.4" and proxied["vpce"] is None
        # Health checks start with a LOCAL header.
        assert wait_health(cove, aws_env, arn, {"127.80.1.10": "healthy", "127.80.2.10": "healthy"}) == \
            {"127.80.1.10": "healthy", "127.80.2.10": "healthy"}
        assert {"command": "LOCAL"} in a.seen

        # With cross-zone balancing on, flows from one address spread over both targets.
        aws(cove, aws_env, "elbv2", "modify-load-balancer-attributes", "--load-balancer-arn", lb["LoadBalancerArn"],
            "--attributes", "Key=load_balancing.cross_zone.enabled,Value=true")
        time.sleep(0.3)
        assert {call("127.80.1.4", port) for _ in range(30)} == {"target-a", "target-b"}

        # A stopped target turns unhealthy within the thresholds and gets no new connection.
        b.stop()
        assert wait_health(cove, aws_env, arn, {"127.80.1.10": "healthy", "127.80.2.10": "unhealthy"}) == \
            {"127.80.1.10": "healthy", "127.80.2.10": "unhealthy"}
        assert {call("127.80.2.4", port) for _ in range(10)} == {"target-a"}

        # Deleting the listener stops it listening.
        listener = aws(cove, aws_env, "elbv2", "describe-listeners", "--load-balancer-arn",
                       lb["LoadBalancerArn"])[1]["Listeners"][0]["ListenerArn"]
        assert "(ResourceInUse)" in denied(cove, aws_env, PUBLIC, "elbv2", "delete-target-group", "--target-group-arn", arn)
        aws(cove, aws_env, "elbv2", "delete-listener", "--listener-arn", listener)
        time.sleep(0.3)
        try:
            call("127.80.1.4", port)
            raise AssertionError("the deleted listener still accepts connections")
        except OSError:
            pass
        code, _, err = aws(cove, aws_env, "elbv2", "describe-target-groups", "--target-group-arns",
                           arn.replace(arn.rsplit("/", 1)[1], "0123456789abcdef"), check=False)
        assert code != 0 and "(TargetGroupNotFound)" in err
    finally:
        a.stop()
        b.stop()
