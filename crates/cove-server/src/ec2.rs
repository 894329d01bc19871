//! The EC2 Query API subset for private connectivity: VPCs, subnets, route tables, internet
//! gateways, security groups (read), prefix lists, the DynamoDB endpoint services and gateway
//! VPC endpoints, with EC2's XML (`…Set`/`item` lists, lower-camel members), filters and
//! `DryRun`. Each action is authorized like any AWS call (`ec2:CreateVpc`, …).

use std::net::{IpAddr, SocketAddr};

use cove_engine::Engine;
use cove_engine::network::{
    EndpointChange, InterfaceRequest, InternetGateway, NetworkInterface, NetworkState,
    PeeringConnection, Permission, RouteTable, SecurityGroup, Subnet, Tags, Vpc, VpcEndpoint,
    dynamodb_prefix_list, dynamodb_service,
};
use cove_engine::services::service_id_of;
use cove_query::{Params, Xml};

use crate::authz::{Guard, Keys};
use crate::error::Failure;

pub const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// A required parameter, or EC2's MissingParameter error.
pub(crate) fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, Failure> {
    params.get(name).ok_or_else(|| {
        Failure::Ec2Input(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    })
}

/// A list parameter (`Name.1`, `Name.2`, …) as owned strings.
pub(crate) fn id_list(params: &Params, name: &str) -> Vec<String> {
    params
        .indexed(name)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// EC2 prints times with milliseconds.
pub(crate) fn timestamp(epoch: i64) -> String {
    let iso = cove_query::iso8601(epoch);
    format!("{}.000Z", iso.trim_end_matches('Z'))
}

pub(crate) fn write_tags(x: &mut Xml, tags: &Tags) {
    x.open("tagSet");
    for (k, v) in tags {
        x.open("item").leaf("key", k).leaf("value", v).close("item");
    }
    x.close("tagSet");
}

/// Whether a resource passes EC2 filters: every filter must match one of its values for
/// that name (`tag:Key` filters match tag values).
pub(crate) fn passes(
    filters: &[(String, Vec<String>)],
    attrs: &[(&str, String)],
    tags: &Tags,
) -> bool {
    filters.iter().all(|(name, wanted)| {
        let values: Vec<&str> = if let Some(key) = name.strip_prefix("tag:") {
            tags.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        } else if name == "tag-key" {
            tags.iter().map(|(k, _)| k.as_str()).collect()
        } else {
            attrs
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        values.iter().any(|v| wanted.iter().any(|w| glob(w, v)))
    })
}

/// EC2 filter values may use `*` and `?`.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// The ids a Describe asks for; each must exist.
pub(crate) fn selected<'a, T>(
    ids: &[&str],
    all: &'a std::collections::BTreeMap<String, T>,
    not_found: (&'static str, &str),
) -> Result<Vec<&'a T>, Failure> {
    if ids.is_empty() {
        return Ok(all.values().collect());
    }
    ids.iter()
        .map(|id| {
            all.get(*id).ok_or_else(|| {
                Failure::Ec2Input(
                    not_found.0,
                    format!("The {} ID '{id}' does not exist", not_found.1),
                )
            })
        })
        .collect()
}

fn write_vpc(x: &mut Xml, tag: &str, owner: &str, v: &Vpc) {
    x.open(tag)
        .leaf("vpcId", &v.id)
        .leaf("ownerId", owner)
        .leaf("state", "available")
        .leaf("cidrBlock", &v.cidr)
        .open("cidrBlockAssociationSet")
        .open("item")
        .leaf("cidrBlock", &v.cidr)
        .leaf("associationId", &v.cidr_association)
        .open("cidrBlockState")
        .leaf("state", "associated")
        .close("cidrBlockState")
        .close("item")
        .close("cidrBlockAssociationSet")
        .leaf("dhcpOptionsId", "default")
        .leaf("instanceTenancy", "default")
        .leaf("isDefault", "false");
    write_tags(x, &v.tags);
    x.close(tag);
}

fn write_subnet(x: &mut Xml, tag: &str, state: &NetworkState, s: &Subnet) {
    let available = s
        .cidr
        .split('/')
        .nth(1)
        .and_then(|l| l.parse::<u32>().ok())
        .map_or(0, |len| (1u64 << (32 - len)).saturating_sub(5));
    x.open(tag)
        .leaf("subnetId", &s.id)
        .leaf(
            "subnetArn",
            &format!(
                "arn:aws:ec2:{}:{}:subnet/{}",
                state.region, state.account, s.id
            ),
        )
        .leaf("state", "available")
        .leaf("vpcId", &s.vpc)
        .leaf("cidrBlock", &s.cidr)
        .leaf("availableIpAddressCount", &available.to_string())
        .leaf("availabilityZone", &s.availability_zone)
        .leaf("defaultForAz", "false")
        .leaf("mapPublicIpOnLaunch", "false")
        .leaf("ownerId", &state.account);
    write_tags(x, &s.tags);
    x.close(tag);
}

/// A route table; `state` tells which routes are blackholes (through a peering connection
/// that is not active), `None` for a table just created (its one route is `local`).
fn write_route_table(
    x: &mut Xml,
    tag: &str,
    owner: &str,
    t: &RouteTable,
    state: Option<&NetworkState>,
) {
    x.open(tag)
        .leaf("routeTableId", &t.id)
        .leaf("vpcId", &t.vpc)
        .leaf("ownerId", owner)
        .open("routeSet");
    for r in &t.routes {
        x.open("item")
            .leaf_opt("destinationCidrBlock", r.destination_cidr.as_deref())
            .leaf_opt(
                "destinationPrefixListId",
                r.destination_prefix_list.as_deref(),
            )
            .leaf(
                if r.target.starts_with("pcx-") {
                    "vpcPeeringConnectionId"
                } else {
                    "gatewayId"
                },
                &r.target,
            )
            .leaf(
                "state",
                if state.is_none_or(|s| s.route_active(r)) {
                    "active"
                } else {
                    "blackhole"
                },
            )
            .leaf("origin", &r.origin)
            .close("item");
    }
    x.close("routeSet").open("associationSet");
    if let Some(assoc) = &t.main_association {
        x.open("item")
            .leaf("routeTableAssociationId", assoc)
            .leaf("routeTableId", &t.id)
            .leaf("main", "true")
            .open("associationState")
            .leaf("state", "associated")
            .close("associationState")
            .close("item");
    }
    for (assoc, subnet) in &t.associations {
        x.open("item")
            .leaf("routeTableAssociationId", assoc)
            .leaf("routeTableId", &t.id)
            .leaf("subnetId", subnet)
            .leaf("main", "false")
            .open("associationState")
            .leaf("state", "associated")
            .close("associationState")
            .close("item");
    }
    x.close("associationSet")
        .open("propagatingVgwSet")
        .close("propagatingVgwSet");
    write_tags(x, &t.tags);
    x.close(tag);
}

fn write_igw(x: &mut Xml, tag: &str, owner: &str, g: &InternetGateway) {
    x.open(tag)
        .leaf("internetGatewayId", &g.id)
        .leaf("ownerId", owner)
        .open("attachmentSet");
    if let Some(vpc) = &g.vpc {
        x.open("item")
            .leaf("vpcId", vpc)
            .leaf("state", "available")
            .close("item");
    }
    x.close("attachmentSet");
    write_tags(x, &g.tags);
    x.close(tag);
}

fn write_permissions(x: &mut Xml, tag: &str, owner: &str, rules: &[Permission]) {
    x.open(tag);
    for r in rules {
        x.open("item").leaf("ipProtocol", &r.protocol);
        if let Some(from) = r.from_port {
            x.leaf("fromPort", &from.to_string());
        }
        if let Some(to) = r.to_port {
            x.leaf("toPort", &to.to_string());
        }
        x.open("groups");
        for g in &r.groups {
            x.open("item")
                .leaf("userId", owner)
                .leaf("groupId", g)
                .close("item");
        }
        x.close("groups").open("ipRanges");
        for c in &r.cidrs {
            x.open("item").leaf("cidrIp", c).close("item");
        }
        x.close("ipRanges")
            .open("ipv6Ranges")
            .close("ipv6Ranges")
            .open("prefixListIds")
            .close("prefixListIds")
            .close("item");
    }
    x.close(tag);
}

fn write_security_group(x: &mut Xml, owner: &str, g: &SecurityGroup) {
    x.open("item")
        .leaf("ownerId", owner)
        .leaf("groupId", &g.id)
        .leaf("groupName", &g.name)
        .leaf("groupDescription", &g.description)
        .leaf("vpcId", &g.vpc);
    write_permissions(x, "ipPermissions", owner, &g.ingress);
    write_permissions(x, "ipPermissionsEgress", owner, &g.egress);
    write_tags(x, &g.tags);
    x.close("item");
}

/// The rules of an Authorize/Revoke call: `IpPermissions.N.…`, or the older top-level
/// `IpProtocol`/`FromPort`/`ToPort`/`CidrIp` members.
fn permissions(params: &Params) -> Result<Vec<Permission>, Failure> {
    let port = |name: &str| -> Result<Option<i32>, Failure> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    Failure::Ec2Input(
                        "InvalidParameterValue",
                        format!("Invalid value '{v}' for {name}"),
                    )
                })
            })
            .transpose()
    };
    let mut out = Vec::new();
    for n in 1..=100 {
        let prefix = format!("IpPermissions.{n}");
        let Some(protocol) = params.get(&format!("{prefix}.IpProtocol")) else {
            break;
        };
        out.push(Permission {
            protocol: protocol.to_ascii_lowercase(),
            from_port: port(&format!("{prefix}.FromPort"))?,
            to_port: port(&format!("{prefix}.ToPort"))?,
            cidrs: (1..=100)
                .map_while(|m| params.get(&format!("{prefix}.IpRanges.{m}.CidrIp")))
                .map(str::to_string)
                .collect(),
            groups: (1..=100)
                .map_while(|m| params.get(&format!("{prefix}.Groups.{m}.GroupId")))
                .map(str::to_string)
                .collect(),
        });
    }
    if out.is_empty()
        && let Some(protocol) = params.get("IpProtocol")
    {
        out.push(Permission {
            protocol: protocol.to_ascii_lowercase(),
            from_port: port("FromPort")?,
            to_port: port("ToPort")?,
            cidrs: params
                .get("CidrIp")
                .map(str::to_string)
                .into_iter()
                .collect(),
            groups: Vec::new(),
        });
    }
    if out.is_empty() {
        return Err(Failure::Ec2Input(
            "MissingParameter",
            "The request must contain the parameter ipPermissions".into(),
        ));
    }
    Ok(out)
}

fn write_peering(x: &mut Xml, tag: &str, local: &str, region: &str, p: &PeeringConnection) {
    let side = |x: &mut Xml, name: &str, vpc: &str, cidr: &str, with_options: bool| {
        let owner = if name == "accepterVpcInfo" {
            p.accepter_owner(local)
        } else {
            p.requester_owner(local)
        };
        x.open(name)
            .leaf("cidrBlock", cidr)
            .open("cidrBlockSet")
            .open("item")
            .leaf("cidrBlock", cidr)
            .close("item")
            .close("cidrBlockSet")
            .leaf("ownerId", owner);
        if with_options {
            x.open("peeringOptions")
                .leaf("allowDnsResolutionFromRemoteVpc", "false")
                .leaf("allowEgressFromLocalClassicLinkToRemoteVpc", "false")
                .leaf("allowEgressFromLocalVpcToRemoteClassicLink", "false")
                .close("peeringOptions");
        }
        x.leaf("vpcId", vpc).leaf("region", region).close(name);
    };
    let active = p.status == "active";
    x.open(tag);
    side(
        x,
        "accepterVpcInfo",
        &p.accepter_vpc,
        &p.accepter_cidr,
        active,
    );
    if p.status == "pending-acceptance" {
        // AWS lets a request wait a week for acceptance.
        x.leaf("expirationTime", &timestamp(p.created + 7 * 24 * 3600));
    }
    side(
        x,
        "requesterVpcInfo",
        &p.requester_vpc,
        &p.requester_cidr,
        active,
    );
    x.open("status")
        .leaf("code", &p.status)
        .leaf("message", &p.message)
        .close("status");
    write_tags(x, &p.tags);
    x.leaf("vpcPeeringConnectionId", &p.id).close(tag);
}

/// A `groupSet` of security groups by id and name.
fn write_groups(x: &mut Xml, state: &NetworkState, groups: &[String]) {
    x.open("groupSet");
    for g in groups {
        let name = state
            .security_groups
            .get(g)
            .map(|s| s.name.as_str())
            .unwrap_or("");
        x.open("item")
            .leaf("groupId", g)
            .leaf("groupName", name)
            .close("item");
    }
    x.close("groupSet");
}

/// One network interface of an interface endpoint, as DescribeNetworkInterfaces shows it.
fn write_network_interface(
    x: &mut Xml,
    state: &NetworkState,
    owner: &str,
    e: &VpcEndpoint,
    eni: &NetworkInterface,
    description: &str,
) {
    let dns = format!(
        "ip-{}.{}.compute.internal",
        eni.ip.replace('.', "-"),
        state.region
    );
    // A stable, locally administered MAC address derived from the interface id.
    let hex = eni.id.trim_start_matches("eni-");
    let mac: Vec<&str> = (0..5)
        .map(|i| hex.get(i * 2..i * 2 + 2).unwrap_or("00"))
        .collect();
    x.open("item")
        .leaf("networkInterfaceId", &eni.id)
        .leaf("subnetId", &eni.subnet)
        .leaf("vpcId", &e.vpc)
        .leaf("availabilityZone", &eni.availability_zone)
        .leaf("description", description)
        .leaf("ownerId", owner)
        .leaf("requesterManaged", "true")
        .leaf("status", "in-use")
        .leaf("macAddress", &format!("02:{}", mac.join(":")))
        .leaf("privateIpAddress", &eni.ip)
        .leaf("privateDnsName", &dns)
        .leaf("sourceDestCheck", "true");
    write_groups(x, state, &e.security_groups);
    x.leaf("interfaceType", "vpc_endpoint")
        .open("privateIpAddressesSet")
        .open("item")
        .leaf("privateIpAddress", &eni.ip)
        .leaf("privateDnsName", &dns)
        .leaf("primary", "true")
        .close("item")
        .close("privateIpAddressesSet")
        .open("tagSet")
        .close("tagSet")
        .close("item");
}

/// What is being listened on, read once per request: interface-endpoint addresses (by the
/// accept loop) and load balancer listeners, those of endpoints to endpoint services
/// included (by the balancers), with the network view they follow.
pub(crate) struct Listening {
    interfaces: std::collections::HashMap<IpAddr, Option<String>>,
    balancers: std::collections::HashMap<SocketAddr, Option<String>>,
    view: std::sync::Arc<cove_engine::network::NetworkView>,
}

impl Listening {
    pub(crate) fn now(shared: &crate::Shared) -> Listening {
        Listening {
            interfaces: shared
                .listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            balancers: shared
                .balancer_status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            view: shared.engine.network_view(),
        }
    }

    /// `None` while every listener on `ip` is up, `Some(None)` while one is not yet,
    /// `Some(Some(reason))` when one cannot be.
    fn balancer_state(&self, ip: IpAddr) -> Option<Option<String>> {
        let mut state = None;
        for b in self.view.balancers.iter().filter(|b| b.addr.ip() == ip) {
            match self.balancers.get(&b.addr) {
                None => state = Some(None),
                Some(None) => {}
                Some(Some(reason)) => return Some(Some(reason.clone())),
            }
        }
        state
    }
}

/// An endpoint's state, with the reason when it failed. A gateway endpoint is `available` at
/// once; an interface endpoint is `pending` until Cove listens on every one of its addresses,
/// then `available`, or `failed` when it cannot listen on one of them (the reason says why).
/// An endpoint to an endpoint service is `pendingAcceptance` or `rejected` as its provider
/// decided, and once accepted follows its listeners (one per listener of the service's load
/// balancer) the same way.
pub(crate) fn endpoint_state(
    e: &VpcEndpoint,
    listening: &Listening,
) -> (&'static str, Option<String>) {
    if e.kind != "Interface" {
        return ("available", None);
    }
    match e.connection.as_deref() {
        Some("pendingAcceptance") => return ("pendingAcceptance", None),
        Some("rejected") => return ("rejected", None),
        _ => {}
    }
    let service = e.service_id().is_some();
    let mut state = "available";
    for eni in &e.interfaces {
        let Ok(ip) = eni.ip.parse::<IpAddr>() else {
            state = "pending";
            continue;
        };
        let status = if service {
            listening.balancer_state(ip)
        } else {
            match listening.interfaces.get(&ip) {
                None => Some(None),
                Some(None) => None,
                Some(Some(reason)) => Some(Some(reason.clone())),
            }
        };
        match status {
            None => {}
            Some(None) => state = "pending",
            Some(Some(reason)) => return ("failed", Some(reason)),
        }
    }
    (state, None)
}

/// An endpoint's `dnsEntrySet`: its regional and zonal names.
pub(crate) fn write_dns_entries(x: &mut Xml, e: &VpcEndpoint, region: &str) {
    x.open("dnsEntrySet");
    for (name, _) in e.dns_names(region) {
        x.open("item")
            .leaf("dnsName", &name)
            .leaf("hostedZoneId", "Z1HVXJ8TKL1HZ1")
            .close("item");
    }
    x.close("dnsEntrySet");
}

pub(crate) fn write_endpoint(
    x: &mut Xml,
    tag: &str,
    network: &NetworkState,
    e: &VpcEndpoint,
    listening: &Listening,
) {
    let (owner, region) = (network.account.as_str(), network.region.as_str());
    let (state, failure) = endpoint_state(e, listening);
    x.open(tag)
        .leaf("vpcEndpointId", &e.id)
        .leaf("vpcEndpointType", &e.kind)
        .leaf("vpcId", &e.vpc)
        .leaf("serviceName", &e.service_name)
        .leaf("state", state)
        .leaf("policyDocument", &e.policy)
        .open("routeTableIdSet");
    for t in &e.route_tables {
        x.leaf("item", t);
    }
    x.close("routeTableIdSet").open("subnetIdSet");
    for eni in &e.interfaces {
        x.leaf("item", &eni.subnet);
    }
    x.close("subnetIdSet");
    write_groups(x, network, &e.security_groups);
    x.leaf("ipAddressType", "ipv4")
        .leaf(
            "privateDnsEnabled",
            if e.private_dns { "true" } else { "false" },
        )
        .leaf("requesterManaged", "false")
        .open("networkInterfaceIdSet");
    for eni in &e.interfaces {
        x.leaf("item", &eni.id);
    }
    x.close("networkInterfaceIdSet");
    write_dns_entries(x, e, region);
    x.leaf("creationTimestamp", &timestamp(e.created))
        .leaf("ownerId", owner);
    write_tags(x, &e.tags);
    if let Some(reason) = failure {
        x.open("lastError")
            .leaf("code", "ListenerUnavailable")
            .leaf("message", &reason)
            .close("lastError");
    }
    x.close(tag);
}

/// Runs one EC2 action in the caller's account and the region it signed for; returns the
/// response body's members (after `requestId`).
pub fn ec2(
    engine: &Engine,
    guard: &Guard<'_>,
    region: &str,
    listener: Option<std::net::SocketAddr>,
    shared: &crate::Shared,
    action: &str,
    params: &Params,
) -> Result<String, Failure> {
    let listening = || Listening::now(shared);
    let account = guard.principal().account.clone();
    let arn = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/{id}");
    let authorize = |resource: &str| -> Result<(), Failure> {
        let ec2_action = format!("ec2:{action}");
        guard
            .check(&ec2_action, resource, &account, Keys::new())
            .map_err(|failure| match failure {
                // EC2 words its denial without the resource.
                Failure::AccessDenied(msg) => {
                    Failure::AccessDenied(msg.replace(&format!(" on resource: {resource}"), ""))
                }
                other => other,
            })?;
        if params.get("DryRun") == Some("true") {
            return Err(Failure::DryRun);
        }
        Ok(())
    };
    let filters = params.filters();
    let mut x = Xml::new();
    let update = |f: &mut dyn FnMut(&mut NetworkState) -> cove_engine::Result<()>| {
        engine.network_update(&account, region, |state| f(state))
    };
    match action {
        "CreateVpc" => {
            let cidr = required(params, "CidrBlock")?;
            authorize(&arn("vpc", "*"))?;
            let tags = params.tag_specification("vpc");
            let vpc = engine.network_update(&account, region, |s| s.create_vpc(cidr, tags))?;
            write_vpc(&mut x, "vpc", &account, &vpc);
        }
        "DescribeVpcs" => {
            authorize("*")?;
            let ids = params.indexed("VpcId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("vpcSet");
                for v in selected(&ids, &s.vpcs, ("InvalidVpcID.NotFound", "vpc"))? {
                    let attrs = [
                        ("vpc-id", v.id.clone()),
                        ("cidr", v.cidr.clone()),
                        ("cidr-block", v.cidr.clone()),
                        ("state", "available".into()),
                        ("owner-id", account.clone()),
                        ("is-default", "false".into()),
                    ];
                    if passes(&filters, &attrs, &v.tags) {
                        write_vpc(&mut x, "item", &account, v);
                    }
                }
                x.close("vpcSet");
                Ok(())
            })?;
        }
        "DeleteVpc" => {
            let id = required(params, "VpcId")?;
            authorize(&arn("vpc", id))?;
            engine.network_update(&account, region, |s| s.delete_vpc(id))?;
            x.leaf("return", "true");
        }
        "CreateSubnet" => {
            let vpc = required(params, "VpcId")?;
            let cidr = required(params, "CidrBlock")?;
            authorize(&arn("subnet", "*"))?;
            let zone = params.get("AvailabilityZone").unwrap_or("");
            let tags = params.tag_specification("subnet");
            let subnet = engine
                .network_update(&account, region, |s| s.create_subnet(vpc, cidr, zone, tags))?;
            engine.network_read(&account, region, |s| {
                write_subnet(&mut x, "subnet", s, &subnet)
            });
        }
        "DescribeSubnets" => {
            authorize("*")?;
            let ids = params.indexed("SubnetId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("subnetSet");
                for sub in selected(&ids, &s.subnets, ("InvalidSubnetID.NotFound", "subnet"))? {
                    let attrs = [
                        ("subnet-id", sub.id.clone()),
                        ("vpc-id", sub.vpc.clone()),
                        ("cidr-block", sub.cidr.clone()),
                        ("availability-zone", sub.availability_zone.clone()),
                        ("state", "available".into()),
                    ];
                    if passes(&filters, &attrs, &sub.tags) {
                        write_subnet(&mut x, "item", s, sub);
                    }
                }
                x.close("subnetSet");
                Ok(())
            })?;
        }
        "DeleteSubnet" => {
            let id = required(params, "SubnetId")?;
            authorize(&arn("subnet", id))?;
            engine.network_update(&account, region, |s| s.delete_subnet(id))?;
            x.leaf("return", "true");
        }
        "CreateRouteTable" => {
            let vpc = required(params, "VpcId")?;
            authorize(&arn("route-table", "*"))?;
            let tags = params.tag_specification("route-table");
            let table =
                engine.network_update(&account, region, |s| s.create_route_table(vpc, tags))?;
            write_route_table(&mut x, "routeTable", &account, &table, None);
        }
        "DescribeRouteTables" => {
            authorize("*")?;
            let ids = params.indexed("RouteTableId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("routeTableSet");
                for t in selected(
                    &ids,
                    &s.route_tables,
                    ("InvalidRouteTableID.NotFound", "routeTable"),
                )? {
                    let mut attrs = vec![
                        ("route-table-id", t.id.clone()),
                        ("vpc-id", t.vpc.clone()),
                        ("association.main", t.main.to_string()),
                    ];
                    for (assoc, subnet) in &t.associations {
                        attrs.push(("association.subnet-id", subnet.clone()));
                        attrs.push(("association.route-table-association-id", assoc.clone()));
                    }
                    for r in &t.routes {
                        attrs.push(("route.gateway-id", r.target.clone()));
                        if let Some(pl) = &r.destination_prefix_list {
                            attrs.push(("route.destination-prefix-list-id", pl.clone()));
                        }
                    }
                    if passes(&filters, &attrs, &t.tags) {
                        write_route_table(&mut x, "item", &account, t, Some(s));
                    }
                }
                x.close("routeTableSet");
                Ok(())
            })?;
        }
        "DeleteRouteTable" => {
            let id = required(params, "RouteTableId")?;
            authorize(&arn("route-table", id))?;
            engine.network_update(&account, region, |s| s.delete_route_table(id))?;
            x.leaf("return", "true");
        }
        "AssociateRouteTable" => {
            let table = required(params, "RouteTableId")?;
            let subnet = required(params, "SubnetId")?;
            authorize(&arn("route-table", table))?;
            let assoc = engine
                .network_update(&account, region, |s| s.associate_route_table(table, subnet))?;
            x.leaf("associationId", &assoc)
                .open("associationState")
                .leaf("state", "associated")
                .close("associationState");
        }
        "DisassociateRouteTable" => {
            let assoc = required(params, "AssociationId")?;
            authorize("*")?;
            engine.network_update(&account, region, |s| s.disassociate_route_table(assoc))?;
            x.leaf("return", "true");
        }
        "CreateRoute" | "DeleteRoute" => {
            let table = required(params, "RouteTableId")?;
            let cidr = required(params, "DestinationCidrBlock")?;
            authorize(&arn("route-table", table))?;
            if action == "CreateRoute" {
                let Some(target) = params
                    .get("GatewayId")
                    .or_else(|| params.get("VpcPeeringConnectionId"))
                else {
                    return Err(Failure::Ec2Input(
                        "InvalidParameterCombination",
                        "Cove's route tables take routes to internet gateways (GatewayId igw-…) and through VPC peering connections (VpcPeeringConnectionId pcx-…); other targets are not supported".into(),
                    ));
                };
                engine.network_update(&account, region, |s| s.create_route(table, cidr, target))?;
            } else {
                engine.network_update(&account, region, |s| s.delete_route(table, cidr))?;
            }
            x.leaf("return", "true");
        }
        "CreateInternetGateway" => {
            authorize(&arn("internet-gateway", "*"))?;
            let tags = params.tag_specification("internet-gateway");
            let mut created = None;
            update(&mut |s| {
                created = Some(s.create_internet_gateway(tags.clone()));
                Ok(())
            })?;
            if let Some(g) = created {
                write_igw(&mut x, "internetGateway", &account, &g);
            }
        }
        "AttachInternetGateway" => {
            let igw = required(params, "InternetGatewayId")?;
            let vpc = required(params, "VpcId")?;
            authorize(&arn("internet-gateway", igw))?;
            engine.network_update(&account, region, |s| s.attach_internet_gateway(igw, vpc))?;
            x.leaf("return", "true");
        }
        "DescribeInternetGateways" => {
            authorize("*")?;
            let ids = params.indexed("InternetGatewayId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("internetGatewaySet");
                for g in selected(
                    &ids,
                    &s.internet_gateways,
                    ("InvalidInternetGatewayID.NotFound", "internetGateway"),
                )? {
                    let attrs = [
                        ("internet-gateway-id", g.id.clone()),
                        ("attachment.vpc-id", g.vpc.clone().unwrap_or_default()),
                    ];
                    if passes(&filters, &attrs, &g.tags) {
                        write_igw(&mut x, "item", &account, g);
                    }
                }
                x.close("internetGatewaySet");
                Ok(())
            })?;
        }
        "DescribeSecurityGroups" => {
            authorize("*")?;
            let ids = params.indexed("GroupId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("securityGroupInfo");
                for g in selected(
                    &ids,
                    &s.security_groups,
                    ("InvalidGroup.NotFound", "security group"),
                )? {
                    let attrs = [
                        ("group-id", g.id.clone()),
                        ("group-name", g.name.clone()),
                        ("vpc-id", g.vpc.clone()),
                    ];
                    if passes(&filters, &attrs, &g.tags) {
                        write_security_group(&mut x, &account, g);
                    }
                }
                x.close("securityGroupInfo");
                Ok(())
            })?;
        }
        "CreateSecurityGroup" => {
            let name = required(params, "GroupName")?;
            let description = required(params, "GroupDescription")?;
            let Some(vpc) = params.get("VpcId") else {
                return Err(Failure::Ec2Input(
                    "VPCIdNotSpecified",
                    "No default VPC for this user".into(),
                ));
            };
            authorize(&arn("security-group", "*"))?;
            let tags = params.tag_specification("security-group");
            let group = engine.network_update(&account, region, |s| {
                s.create_security_group(vpc, name, description, tags)
            })?;
            x.leaf("return", "true").leaf("groupId", &group.id);
            write_tags(&mut x, &group.tags);
        }
        "DeleteSecurityGroup" => {
            let id = required(params, "GroupId")?;
            authorize(&arn("security-group", id))?;
            engine.network_update(&account, region, |s| s.delete_security_group(id))?;
            x.leaf("return", "true");
        }
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress" => {
            let id = required(params, "GroupId")?;
            authorize(&arn("security-group", id))?;
            let rules = permissions(params)?;
            let ingress = action.ends_with("Ingress");
            let grant = action.starts_with("Authorize");
            engine.network_update(&account, region, |s| {
                s.change_rules(id, ingress, grant, rules)
            })?;
            x.leaf("return", "true");
        }
        "DescribePrefixLists" => {
            authorize("*")?;
            let cidr =
                listener.map_or_else(|| "127.0.0.1/32".to_string(), |a| format!("{}/32", a.ip()));
            let id = dynamodb_prefix_list(region);
            let name = dynamodb_service(region);
            let attrs = [
                ("prefix-list-id", id.clone()),
                ("prefix-list-name", name.clone()),
            ];
            x.open("prefixListSet");
            if passes(&filters, &attrs, &Vec::new()) {
                x.open("item")
                    .leaf("prefixListId", &id)
                    .leaf("prefixListName", &name)
                    .open("cidrSet")
                    .leaf("item", &cidr)
                    .close("cidrSet")
                    .close("item");
            }
            x.close("prefixListSet");
        }
        "CreateVpcEndpoint" => {
            let vpc = required(params, "VpcId")?;
            let service = required(params, "ServiceName")?;
            authorize(&arn("vpc-endpoint", "*"))?;
            let kind = params.get("VpcEndpointType").unwrap_or("Gateway");
            let tags = params.tag_specification("vpc-endpoint");
            let policy = params.get("PolicyDocument");
            let ids = |name: &str| id_list(params, name);
            let endpoint = match kind {
                "Gateway" => {
                    let tables = ids("RouteTableId");
                    engine.network_update(&account, region, |s| {
                        s.create_gateway_endpoint(vpc, service, &tables, policy, tags)
                    })?
                }
                "Interface" => {
                    let (mut subnets, groups) = (ids("SubnetId"), ids("SecurityGroupId"));
                    // SubnetConfiguration names subnets too, and may ask for an address.
                    let mut addresses = Vec::new();
                    for config in params.flat_structs("SubnetConfiguration") {
                        let Some(subnet) = config.get("SubnetId") else {
                            continue;
                        };
                        if !subnets.iter().any(|s| s == subnet) {
                            subnets.push(subnet.to_string());
                        }
                        if let Some(ip) = config.get("Ipv4") {
                            addresses.push((subnet.to_string(), ip.to_string()));
                        }
                    }
                    let request = InterfaceRequest {
                        vpc,
                        service,
                        subnets: &subnets,
                        addresses: &addresses,
                        groups: &groups,
                        policy,
                        tags,
                        private_dns: params.get("PrivateDnsEnabled") != Some("false"),
                    };
                    if service_id_of(service).is_some() {
                        // An endpoint service of any account: PrivateLink.
                        let principal = guard.principal().principal_arn().to_string();
                        engine.network_region_update(region, |r| {
                            r.create_service_endpoint(&account, &principal, request)
                        })?
                    } else {
                        engine.network_update(&account, region, |s| {
                            s.create_interface_endpoint(request)
                        })?
                    }
                }
                other => {
                    return Err(Failure::Ec2Input(
                        "InvalidParameterValue",
                        format!("Value ({other}) for parameter VpcEndpointType is invalid."),
                    ));
                }
            };
            let listening = listening();
            engine.network_read(&account, region, |s| {
                write_endpoint(&mut x, "vpcEndpoint", s, &endpoint, &listening)
            });
        }
        "DescribeVpcEndpoints" => {
            authorize("*")?;
            let ids = params.indexed("VpcEndpointId");
            let listening = listening();
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("vpcEndpointSet");
                for e in selected(
                    &ids,
                    &s.endpoints,
                    ("InvalidVpcEndpointId.NotFound", "Vpc Endpoint"),
                )? {
                    let attrs = [
                        ("vpc-endpoint-id", e.id.clone()),
                        ("vpc-id", e.vpc.clone()),
                        ("service-name", e.service_name.clone()),
                        ("vpc-endpoint-type", e.kind.clone()),
                        ("vpc-endpoint-state", endpoint_state(e, &listening).0.into()),
                    ];
                    if passes(&filters, &attrs, &e.tags) {
                        write_endpoint(&mut x, "item", s, e, &listening);
                    }
                }
                x.close("vpcEndpointSet");
                Ok(())
            })?;
        }
        "ModifyVpcEndpoint" => {
            let id = required(params, "VpcEndpointId")?;
            authorize(&arn("vpc-endpoint", id))?;
            let ids = |name: &str| id_list(params, name);
            let change = EndpointChange {
                policy: params.get("PolicyDocument").map(str::to_string),
                reset_policy: params.get("ResetPolicy") == Some("true"),
                add_route_tables: ids("AddRouteTableId"),
                remove_route_tables: ids("RemoveRouteTableId"),
                add_subnets: ids("AddSubnetId"),
                remove_subnets: ids("RemoveSubnetId"),
                add_security_groups: ids("AddSecurityGroupId"),
                remove_security_groups: ids("RemoveSecurityGroupId"),
            };
            engine.network_update(&account, region, |s| s.modify_endpoint(id, &change))?;
            x.leaf("return", "true");
        }
        "CreateVpcPeeringConnection" => {
            let vpc = required(params, "VpcId")?;
            let peer = required(params, "PeerVpcId")?;
            authorize(&arn("vpc", vpc))?;
            if params.get("PeerRegion").is_some_and(|r| r != region) {
                return Err(Failure::Ec2Input(
                    "InvalidParameterValue",
                    "Cove peers VPCs within one region; PeerRegion must be the requester's own"
                        .into(),
                ));
            }
            let owner = params.get("PeerOwnerId").unwrap_or(&account).to_string();
            let tags = params.tag_specification("vpc-peering-connection");
            let peering = engine.network_region_update(region, |r| {
                r.create_peering(&account, vpc, peer, &owner, tags)
            })?;
            write_peering(&mut x, "vpcPeeringConnection", &account, region, &peering);
        }
        "AcceptVpcPeeringConnection" | "RejectVpcPeeringConnection" => {
            let id = required(params, "VpcPeeringConnectionId")?;
            authorize(&arn("vpc-peering-connection", id))?;
            let accept = action == "AcceptVpcPeeringConnection";
            let peering =
                engine.network_region_update(region, |r| r.answer_peering(&account, id, accept))?;
            if accept {
                write_peering(&mut x, "vpcPeeringConnection", &account, region, &peering);
            } else {
                x.leaf("return", "true");
            }
        }
        "DeleteVpcPeeringConnection" => {
            let id = required(params, "VpcPeeringConnectionId")?;
            authorize(&arn("vpc-peering-connection", id))?;
            engine.network_region_update(region, |r| r.delete_peering(&account, id))?;
            x.leaf("return", "true");
        }
        "DescribeVpcPeeringConnections" => {
            authorize("*")?;
            let ids = params.indexed("VpcPeeringConnectionId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                x.open("vpcPeeringConnectionSet");
                for p in selected(
                    &ids,
                    &s.peerings,
                    (
                        "InvalidVpcPeeringConnectionID.NotFound",
                        "vpcPeeringConnection",
                    ),
                )? {
                    let attrs = [
                        ("vpc-peering-connection-id", p.id.clone()),
                        ("status-code", p.status.clone()),
                        ("status-message", p.message.clone()),
                        ("requester-vpc-info.vpc-id", p.requester_vpc.clone()),
                        ("requester-vpc-info.cidr-block", p.requester_cidr.clone()),
                        (
                            "requester-vpc-info.owner-id",
                            p.requester_owner(&account).to_string(),
                        ),
                        ("accepter-vpc-info.vpc-id", p.accepter_vpc.clone()),
                        ("accepter-vpc-info.cidr-block", p.accepter_cidr.clone()),
                        (
                            "accepter-vpc-info.owner-id",
                            p.accepter_owner(&account).to_string(),
                        ),
                    ];
                    if passes(&filters, &attrs, &p.tags) {
                        write_peering(&mut x, "item", &account, region, p);
                    }
                }
                x.close("vpcPeeringConnectionSet");
                Ok(())
            })?;
        }
        "DescribeNetworkInterfaces" => {
            authorize("*")?;
            let ids = params.indexed("NetworkInterfaceId");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                // Cove's network interfaces are those of interface endpoints.
                let all: std::collections::BTreeMap<String, (&VpcEndpoint, &NetworkInterface)> = s
                    .endpoints
                    .values()
                    .flat_map(|e| e.interfaces.iter().map(move |i| (i.id.clone(), (e, i))))
                    .collect();
                x.open("networkInterfaceSet");
                for (e, eni) in selected(
                    &ids,
                    &all,
                    ("InvalidNetworkInterfaceID.NotFound", "networkInterface"),
                )? {
                    let description = format!("VPC Endpoint Interface {}", e.id);
                    let mut attrs = vec![
                        ("network-interface-id", eni.id.clone()),
                        ("vpc-id", e.vpc.clone()),
                        ("subnet-id", eni.subnet.clone()),
                        ("availability-zone", eni.availability_zone.clone()),
                        ("description", description.clone()),
                        ("interface-type", "vpc_endpoint".into()),
                        ("requester-managed", "true".into()),
                        ("status", "in-use".into()),
                        ("owner-id", account.clone()),
                        ("private-ip-address", eni.ip.clone()),
                        ("addresses.private-ip-address", eni.ip.clone()),
                    ];
                    attrs.extend(e.security_groups.iter().map(|g| ("group-id", g.clone())));
                    if passes(&filters, &attrs, &Tags::default()) {
                        write_network_interface(&mut x, s, &account, e, eni, &description);
                    }
                }
                x.close("networkInterfaceSet");
                Ok(())
            })?;
        }
        "DeleteVpcEndpoints" => {
            let ids = params.indexed("VpcEndpointId");
            if ids.is_empty() {
                return Err(Failure::Ec2Input(
                    "MissingParameter",
                    "The request must contain the parameter VpcEndpointId".into(),
                ));
            }
            authorize(&arn("vpc-endpoint", "*"))?;
            x.open("unsuccessful");
            for id in ids {
                if let Err(err) =
                    engine.network_region_update(region, |r| r.delete_endpoint(&account, id))
                {
                    let (code, message) = match &err {
                        cove_engine::EngineError::Ec2(code, message) => (*code, message.clone()),
                        other => ("InternalError", other.to_string()),
                    };
                    x.open("item")
                        .open("error")
                        .leaf("code", code)
                        .leaf("message", &message)
                        .close("error")
                        .leaf("resourceId", id)
                        .close("item");
                }
            }
            x.close("unsuccessful");
        }
        _ => {
            let context = crate::privatelink::Context {
                engine,
                guard,
                region,
                account: &account,
                authorize: &authorize,
                listening: &listening,
            };
            crate::privatelink::ec2(&context, action, params, &mut x)?;
        }
    }
    Ok(x.finish())
}
