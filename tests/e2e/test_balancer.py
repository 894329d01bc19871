"""Network load balancers end to end with the real AWS CLI (`aws elbv2 …`): a load balancer in
two zones, a TCP target group with Proxy Protocol v2 and health checks, two small TCP targets
started by the test, and a listener. Traffic flows through Cove's L4 proxy to a target of the
listener's zone (or any zone with cross-zone balancing); each target reads the Proxy Protocol
header and sees the client's address; a stopped target is marked unhealthy within the
thresholds and gets no new connection.
"""

import socket
import threading
import time

import ppv2_target

from conftest import REGION
from ppv2_target import Target, listening
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
        assert "(TargetGroupNotFound)" in denied(cove, aws_env, PUBLIC, "elbv2", "describe-target-groups",
                                                 "--names", "web", "nosuchgroup")
    finally:
        a.stop()
        b.stop()


class Echo:
    """A TCP server that answers each line with its name and the line, until the client
    closes; it keeps connections open, so draining can be seen."""

    def __init__(self, name, host):
        self.name = name
        self.sock, self.port = listening(host)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    def echo(self, conn):
        with conn, conn.makefile("rwb") as f:
            for line in f:
                f.write(self.name.encode() + b":" + line)
                f.flush()

    def stop(self):
        self.sock.close()


def test_deregistered_targets_drain_and_listeners_take_an_idle_timeout(cove, aws_env):
    one = Echo("one", "127.85.1.10")
    two = Echo("two", "127.85.1.11")
    try:
        vpc = aws(cove, aws_env, "ec2", "create-vpc", "--cidr-block", "127.85.0.0/16")[1]["Vpc"]["VpcId"]
        subnet = aws(cove, aws_env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "127.85.1.0/24",
                     "--availability-zone", f"{REGION}a")[1]["Subnet"]["SubnetId"]
        lb = aws(cove, aws_env, "elbv2", "create-load-balancer", "--name", "drain", "--type", "network",
                 "--scheme", "internal", "--subnets", subnet)[1]["LoadBalancers"][0]["LoadBalancerArn"]
        group = aws(cove, aws_env, "elbv2", "create-target-group", "--name", "drain", "--protocol", "TCP",
                    "--port", str(one.port), "--vpc-id", vpc, "--target-type", "ip")[1]["TargetGroups"][0]["TargetGroupArn"]
        aws(cove, aws_env, "elbv2", "modify-target-group-attributes", "--target-group-arn", group,
            "--attributes", "Key=deregistration_delay.timeout_seconds,Value=8")
        targets = {"one": f"Id=127.85.1.10,Port={one.port}", "two": f"Id=127.85.1.11,Port={two.port}"}
        aws(cove, aws_env, "elbv2", "register-targets", "--target-group-arn", group, "--targets", *targets.values())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        listener = aws(cove, aws_env, "elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "TCP",
                       "--port", str(port), "--default-actions",
                       f"Type=forward,TargetGroupArn={group}")[1]["Listeners"][0]["ListenerArn"]

        # Once Cove listens on every address and port, the load balancer is active; a port
        # another program holds fails it (with the reason) until the port is free again.
        deadline = time.time() + 5
        while True:
            state = aws(cove, aws_env, "elbv2", "describe-load-balancers", "--load-balancer-arns",
                        lb)[1]["LoadBalancers"][0]["State"]
            if state["Code"] == "active" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert state == {"Code": "active"}
        squatter = socket.socket()
        squatter.bind(("127.85.1.4", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        second = aws(cove, aws_env, "elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "TCP",
                     "--port", str(taken), "--default-actions",
                     f"Type=forward,TargetGroupArn={group}")[1]["Listeners"][0]["ListenerArn"]
        time.sleep(0.5)
        state = aws(cove, aws_env, "elbv2", "describe-load-balancers", "--load-balancer-arns",
                    lb)[1]["LoadBalancers"][0]["State"]
        assert state["Code"] == "failed" and f"127.85.1.4:{taken}" in state["Reason"], state
        squatter.close()
        deadline = time.time() + 6
        while state["Code"] != "active" and time.time() < deadline:
            time.sleep(0.5)
            state = aws(cove, aws_env, "elbv2", "describe-load-balancers", "--load-balancer-arns",
                        lb)[1]["LoadBalancers"][0]["State"]
        assert state == {"Code": "active"}
        aws(cove, aws_env, "elbv2", "delete-listener", "--listener-arn", second)

        # The listener's idle timeout is ELB's 350 s, and can be set within 60-6000 s.
        attributes = aws(cove, aws_env, "elbv2", "describe-listener-attributes", "--listener-arn", listener)[1]
        assert attributes["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "350"}]
        changed = aws(cove, aws_env, "elbv2", "modify-listener-attributes", "--listener-arn", listener,
                      "--attributes", "Key=tcp.idle_timeout.seconds,Value=120")[1]
        assert changed["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "120"}]
        assert "(ValidationError)" in denied(cove, aws_env, PUBLIC, "elbv2", "modify-listener-attributes",
                                             "--listener-arn", listener,
                                             "--attributes", "Key=tcp.idle_timeout.seconds,Value=30")

        deadline = time.time() + 5
        while True:
            try:
                flow = socket.create_connection(("127.85.1.4", port), timeout=10, source_address=(CLIENT, 0))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        stream = flow.makefile("rwb")
        stream.write(b"hello\n")
        stream.flush()
        name = stream.readline().decode().split(":")[0]
        assert name in targets
        other = "two" if name == "one" else "one"

        # Deregistered, the flow's target drains: its open flow still works, new flows go to
        # the other target, and DescribeTargetHealth shows it draining.
        deregistered = time.time()
        aws(cove, aws_env, "elbv2", "deregister-targets", "--target-group-arn", group, "--targets", targets[name])
        time.sleep(0.3)
        described = aws(cove, aws_env, "elbv2", "describe-target-health", "--target-group-arn", group)[1]
        states = {d["Target"]["Id"]: d["TargetHealth"] for d in described["TargetHealthDescriptions"]}
        drained_ip = "127.85.1.10" if name == "one" else "127.85.1.11"
        assert states[drained_ip]["State"] == "draining"
        assert states[drained_ip]["Reason"] == "Target.DeregistrationInProgress"
        stream.write(b"still\n")
        stream.flush()
        assert stream.readline() == f"{name}:still\n".encode()
        for _ in range(5):
            with socket.create_connection(("127.85.1.4", port), timeout=10, source_address=(CLIENT, 0)) as s:
                s.sendall(b"new\n")
                assert s.makefile("rb").readline() == f"{other}:new\n".encode()

        # After the eight-second delay Cove closes the drained flow, and the target is gone.
        flow.settimeout(20)
        assert flow.recv(100) == b""
        assert 8 <= time.time() - deregistered < 20
        described = aws(cove, aws_env, "elbv2", "describe-target-health", "--target-group-arn", group)[1]
        assert [d["Target"]["Id"] for d in described["TargetHealthDescriptions"]] == \
            ["127.85.1.11" if name == "one" else "127.85.1.10"]
        flow.close()
    finally:
        one.stop()
        two.stop()
