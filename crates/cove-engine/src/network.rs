//! The network model of each (account, region): VPCs, subnets, route tables, internet
//! gateways, the default security groups and VPC endpoints, with EC2's rules and error texts,
//! stored as one record per (account, region); and the compiled view the accept loop and
//! authorization read: which subnet a source address is in, and how that subnet reaches the
//! regional DynamoDB endpoint (a gateway endpoint, an internet route, or not at all).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use cove_policy::{Policy, PolicyKind};
use cove_storage::{KeyRange, ScanOptions, WriteBatch};

use crate::balancer::{BalancerListener, Listener, LoadBalancer, TargetGroup};
use crate::credentials::random_string;
use crate::follow::Area;
use crate::services::{ConnectionNotification, EndpointService};
use crate::{Engine, EngineError, Result, keys};

/// An EC2 API error: its code (`InvalidVpcID.NotFound`, …) and EC2's message.
pub(crate) fn ec2_error(code: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Ec2(code, message.into())
}

/// The policy EC2 gives a gateway endpoint created without one.
pub const DEFAULT_GATEWAY_POLICY: &str = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

/// AWS's limit on an endpoint policy, whitespace included.
const MAX_ENDPOINT_POLICY: usize = 20_480;

/// `prefix-` and 17 lower-case hex digits, as EC2's new-style ids.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_string(b"0123456789abcdef", 17))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub type Tags = Vec<(String, String)>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    pub cidr_association: String,
    pub main_route_table: String,
    pub default_security_group: String,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub vpc: String,
    pub cidr: String,
    pub availability_zone: String,
    #[serde(default)]
    pub tags: Tags,
}

/// One route: a destination (a CIDR, or the DynamoDB prefix list for gateway endpoints) and
/// its target (`local`, `igw-…`, `vpce-…`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub destination_cidr: Option<String>,
    pub destination_prefix_list: Option<String>,
    pub target: String,
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteTable {
    pub id: String,
    pub vpc: String,
    pub main: bool,
    /// The main table's own association id.
    pub main_association: Option<String>,
    pub routes: Vec<Route>,
    /// (association id, subnet id).
    pub associations: Vec<(String, String)>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InternetGateway {
    pub id: String,
    pub vpc: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// One security group rule: a protocol (`-1` for all, `tcp`, `udp`, `icmp`), a port range
/// and the sources (or, for egress, destinations) it admits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Permission {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Security groups whose members are admitted.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Permission {
    /// Whether a TCP connection to `port` from `ip` (whose security groups are `groups`) is
    /// admitted by this rule.
    pub fn admits_tcp(&self, ip: IpAddr, port: u16, groups: &[String]) -> bool {
        let protocol_ok = self.protocol == "-1" || self.protocol == "tcp" || self.protocol == "6";
        let port_ok = self.protocol == "-1"
            || match (self.from_port, self.to_port) {
                (Some(from), Some(to)) => (from..=to).contains(&i32::from(port)),
                _ => true,
            };
        let source_ok = self
            .cidrs
            .iter()
            .any(|c| c.parse::<IpNet>().is_ok_and(|n| n.contains(&ip)))
            || self.groups.iter().any(|g| groups.contains(g));
        protocol_ok && port_ok && source_ok
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub ingress: Vec<Permission>,
    #[serde(default)]
    pub egress: Vec<Permission>,
    #[serde(default)]
    pub tags: Tags,
}

/// An interface endpoint's network interface: a private address in one subnet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet: String,
    pub ip: String,
    pub availability_zone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VpcEndpoint {
    pub id: String,
    pub vpc: String,
    pub service_name: String,
    /// `Gateway` or `Interface`.
    pub kind: String,
    pub route_tables: Vec<String>,
    pub policy: String,
    pub created: i64,
    #[serde(default)]
    pub tags: Tags,
    /// Interface endpoints: one network interface per subnet.
    #[serde(default)]
    pub interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// The 8-character part of the endpoint's DNS names.
    #[serde(default)]
    pub dns_suffix: String,
    /// Endpoints to an endpoint service (not DynamoDB): `pendingAcceptance`, `accepted` or
    /// `rejected`, as the provider decided; `None` for DynamoDB's endpoints.
    #[serde(default)]
    pub connection: Option<String>,
    /// Whether the service's private DNS name resolves to this endpoint in its VPC.
    #[serde(default)]
    pub private_dns: bool,
}

impl VpcEndpoint {
    /// The endpoint's DNS names with the zone each serves (`None` for the regional name),
    /// as `vpce-<id>-<8 alnum>[-<az>].<service>.<region>.vpce.amazonaws.com`, where the
    /// service label is `dynamodb` or the endpoint service's id.
    pub fn dns_names(&self, region: &str) -> Vec<(String, Option<String>)> {
        if self.kind != "Interface" {
            return Vec::new();
        }
        let service = self.service_id().unwrap_or("dynamodb");
        let base = format!("{}-{}", self.id, self.dns_suffix);
        let mut names = vec![(
            format!("{base}.{service}.{region}.vpce.amazonaws.com"),
            None,
        )];
        for eni in &self.interfaces {
            names.push((
                format!(
                    "{base}-{}.{service}.{region}.vpce.amazonaws.com",
                    eni.availability_zone
                ),
                Some(eni.availability_zone.clone()),
            ));
        }
        names
    }

    /// Every name that resolves to the endpoint, with its zone: [`VpcEndpoint::dns_names`]
    /// and, for DynamoDB, each one's `streams.` twin
    /// (`vpce-….streams.dynamodb.<region>.vpce.amazonaws.com`), because AWS answers the
    /// DynamoDB Streams names of an interface endpoint too.
    pub fn resolvable_names(&self, region: &str) -> Vec<(String, Option<String>)> {
        let names = self.dns_names(region);
        if self.service_id().is_some() {
            return names;
        }
        names
            .into_iter()
            .flat_map(|(name, zone)| {
                let streams = name.replacen(".dynamodb.", ".streams.dynamodb.", 1);
                [(name, zone.clone()), (streams, zone)]
            })
            .collect()
    }

    /// The endpoint service (`vpce-svc-…`) an endpoint to one connects to; `None` for
    /// DynamoDB's endpoints.
    pub fn service_id(&self) -> Option<&str> {
        crate::services::service_id_of(&self.service_name)
    }
}

/// What a CreateVpcEndpoint of type Interface asks for.
#[derive(Debug, Clone, Default)]
pub struct InterfaceRequest<'a> {
    pub vpc: &'a str,
    pub service: &'a str,
    pub subnets: &'a [String],
    /// (subnet, IPv4 address) pairs asked for with `SubnetConfiguration`: that subnet's
    /// interface takes that address instead of the first free one.
    pub addresses: &'a [(String, String)],
    /// The security groups; the VPC's default group when empty.
    pub groups: &'a [String],
    pub policy: Option<&'a str>,
    pub tags: Tags,
    /// Endpoints to an endpoint service: whether its private DNS name is to resolve to the
    /// endpoint (EC2's default is yes).
    pub private_dns: bool,
}

/// What one ModifyVpcEndpoint asks to change.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub policy: Option<String>,
    pub reset_policy: bool,
    pub add_route_tables: Vec<String>,
    pub remove_route_tables: Vec<String>,
    pub add_subnets: Vec<String>,
    pub remove_subnets: Vec<String>,
    pub add_security_groups: Vec<String>,
    pub remove_security_groups: Vec<String>,
}

/// The policy EC2 gives an interface endpoint created without one, byte for byte.
pub const DEFAULT_INTERFACE_POLICY: &str = "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// A VPC peering connection between two VPCs of one account and region. Routes to a CIDR of
/// the peer through it (`VpcPeeringConnectionId`) carry traffic only while it is `active`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeeringConnection {
    pub id: String,
    pub requester_vpc: String,
    pub requester_cidr: String,
    pub accepter_vpc: String,
    pub accepter_cidr: String,
    /// `pending-acceptance`, `active`, `rejected`, `deleted` or `failed`.
    pub status: String,
    pub message: String,
    pub created: i64,
    #[serde(default)]
    pub tags: Tags,
    /// The accepter VPC's account, when it is not the requester's (empty: the same).
    #[serde(default)]
    pub accepter_account: String,
    /// The requester VPC's account, on connections across accounts.
    #[serde(default)]
    pub requester_account: String,
}

impl PeeringConnection {
    /// The account owning the accepter VPC, `local` (the record's account) when the
    /// connection is within one account.
    pub fn accepter_owner<'a>(&'a self, local: &'a str) -> &'a str {
        if self.accepter_account.is_empty() {
            local
        } else {
            &self.accepter_account
        }
    }

    /// The account owning the requester VPC.
    pub fn requester_owner<'a>(&'a self, local: &'a str) -> &'a str {
        if self.requester_account.is_empty() {
            local
        } else {
            &self.requester_account
        }
    }

    /// The other side of `vpc`, if `vpc` is one side.
    pub fn peer_of(&self, vpc: &str) -> Option<&str> {
        if self.requester_vpc == vpc {
            Some(&self.accepter_vpc)
        } else if self.accepter_vpc == vpc {
            Some(&self.requester_vpc)
        } else {
            None
        }
    }
}

/// Everything EC2 holds for one account in one region.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkState {
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub vpcs: BTreeMap<String, Vpc>,
    #[serde(default)]
    pub subnets: BTreeMap<String, Subnet>,
    #[serde(default)]
    pub route_tables: BTreeMap<String, RouteTable>,
    #[serde(default)]
    pub internet_gateways: BTreeMap<String, InternetGateway>,
    #[serde(default)]
    pub security_groups: BTreeMap<String, SecurityGroup>,
    #[serde(default)]
    pub endpoints: BTreeMap<String, VpcEndpoint>,
    #[serde(default)]
    pub peerings: BTreeMap<String, PeeringConnection>,
    /// Elastic Load Balancing: network load balancers, target groups and listeners, by ARN.
    #[serde(default)]
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    #[serde(default)]
    pub target_groups: BTreeMap<String, TargetGroup>,
    #[serde(default)]
    pub listeners: BTreeMap<String, Listener>,
    /// PrivateLink: the endpoint services this account provides, and the connection
    /// notifications of its services and endpoints.
    #[serde(default)]
    pub endpoint_services: BTreeMap<String, EndpointService>,
    #[serde(default)]
    pub connection_notifications: BTreeMap<String, ConnectionNotification>,
}

/// The DynamoDB service name of a region.
pub fn dynamodb_service(region: &str) -> String {
    format!("com.amazonaws.{region}.dynamodb")
}

/// The id of the AWS-managed prefix list of DynamoDB in a region: `pl-` and 8 hex digits,
/// stable per region.
pub fn dynamodb_prefix_list(region: &str) -> String {
    let hash = region.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("pl-{hash:08x}")
}

fn parse_cidr(text: &str) -> Result<IpNet> {
    match text.parse::<IpNet>() {
        Ok(IpNet::V4(net)) if net.trunc() == net => Ok(IpNet::V4(net)),
        _ => Err(ec2_error(
            "InvalidParameterValue",
            format!(
                "Value ({text}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
            ),
        )),
    }
}

impl NetworkState {
    pub(crate) fn new(account: &str, region: &str) -> NetworkState {
        NetworkState {
            account: account.to_string(),
            region: region.to_string(),
            ..NetworkState::default()
        }
    }

    pub fn vpc(&self, id: &str) -> Result<&Vpc> {
        self.vpcs.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidVpcID.NotFound",
                format!("The vpc ID '{id}' does not exist"),
            )
        })
    }

    pub fn subnet(&self, id: &str) -> Result<&Subnet> {
        self.subnets.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidSubnetID.NotFound",
                format!("The subnet ID '{id}' does not exist"),
            )
        })
    }

    pub fn route_table(&self, id: &str) -> Result<&RouteTable> {
        self.route_tables.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidRouteTableID.NotFound",
                format!("The routeTable ID '{id}' does not exist"),
            )
        })
    }

    pub fn endpoint(&self, id: &str) -> Result<&VpcEndpoint> {
        self.endpoints.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidVpcEndpointId.NotFound",
                format!("The Vpc Endpoint Id '{id}' does not exist"),
            )
        })
    }

    /// CreateVpc: the VPC with its main route table (one local route) and default security
    /// group.
    pub fn create_vpc(&mut self, cidr: &str, tags: Tags) -> Result<Vpc> {
        let net = parse_cidr(cidr)?;
        if !(16..=28).contains(&net.prefix_len()) {
            return Err(ec2_error(
                "InvalidVpc.Range",
                format!("The CIDR '{cidr}' is invalid."),
            ));
        }
        let vpc = Vpc {
            id: new_id("vpc"),
            cidr: net.to_string(),
            cidr_association: new_id("vpc-cidr-assoc"),
            main_route_table: new_id("rtb"),
            default_security_group: new_id("sg"),
            tags,
        };
        self.route_tables.insert(
            vpc.main_route_table.clone(),
            RouteTable {
                id: vpc.main_route_table.clone(),
                vpc: vpc.id.clone(),
                main: true,
                main_association: Some(new_id("rtbassoc")),
                routes: vec![Route {
                    destination_cidr: Some(vpc.cidr.clone()),
                    destination_prefix_list: None,
                    target: "local".into(),
                    origin: "CreateRouteTable".into(),
                }],
                associations: Vec::new(),
                tags: Vec::new(),
            },
        );
        self.security_groups.insert(
            vpc.default_security_group.clone(),
            SecurityGroup {
                id: vpc.default_security_group.clone(),
                vpc: vpc.id.clone(),
                name: "default".into(),
                description: "default VPC security group".into(),
                // As in AWS: members of the group reach each other; everything may leave.
                ingress: vec![Permission {
                    protocol: "-1".into(),
                    from_port: None,
                    to_port: None,
                    cidrs: Vec::new(),
                    groups: vec![vpc.default_security_group.clone()],
                }],
                egress: vec![all_outbound()],
                tags: Vec::new(),
            },
        );
        self.vpcs.insert(vpc.id.clone(), vpc.clone());
        Ok(vpc)
    }

    /// DeleteVpc: only a VPC with nothing left in it.
    pub fn delete_vpc(&mut self, id: &str) -> Result<()> {
        let vpc = self.vpc(id)?.clone();
        let busy = self.subnets.values().any(|s| s.vpc == id)
            || self.endpoints.values().any(|e| e.vpc == id)
            || self.load_balancers.values().any(|lb| lb.vpc == id)
            || self.target_groups.values().any(|t| t.vpc == id)
            || self
                .internet_gateways
                .values()
                .any(|g| g.vpc.as_deref() == Some(id))
            || self.route_tables.values().any(|r| r.vpc == id && !r.main)
            || self
                .security_groups
                .values()
                .any(|g| g.vpc == id && g.id != vpc.default_security_group);
        if busy {
            return Err(ec2_error(
                "DependencyViolation",
                format!("The vpc '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.route_tables.remove(&vpc.main_route_table);
        self.security_groups.remove(&vpc.default_security_group);
        self.vpcs.remove(id);
        // Deleting a VPC deletes its peering connections.
        let account = self.account.clone();
        for peering in self.peerings.values_mut() {
            if peering.peer_of(id).is_some()
                && matches!(peering.status.as_str(), "pending-acceptance" | "active")
            {
                peering.status = "deleted".into();
                peering.message = format!("Deleted by {account}");
            }
        }
        Ok(())
    }

    /// CreateSubnet: a CIDR inside the VPC's that overlaps no other subnet of it.
    pub fn create_subnet(
        &mut self,
        vpc: &str,
        cidr: &str,
        zone: &str,
        tags: Tags,
    ) -> Result<Subnet> {
        let vpc_net: IpNet = self
            .vpc(vpc)?
            .cidr
            .parse()
            .map_err(|_| EngineError::Corrupt("VPC CIDR".into()))?;
        let net = parse_cidr(cidr)?;
        if !vpc_net.contains(&net) || !(16..=28).contains(&net.prefix_len()) {
            return Err(ec2_error(
                "InvalidSubnet.Range",
                format!("The CIDR '{cidr}' is invalid."),
            ));
        }
        let overlaps = self.subnets.values().filter(|s| s.vpc == vpc).any(|s| {
            s.cidr
                .parse::<IpNet>()
                .is_ok_and(|other| other.contains(&net) || net.contains(&other))
        });
        if overlaps {
            return Err(ec2_error(
                "InvalidSubnet.Conflict",
                format!("The CIDR '{cidr}' conflicts with another subnet"),
            ));
        }
        let subnet = Subnet {
            id: new_id("subnet"),
            vpc: vpc.to_string(),
            cidr: net.to_string(),
            availability_zone: if zone.is_empty() {
                format!("{}a", self.region)
            } else {
                zone.to_string()
            },
            tags,
        };
        self.subnets.insert(subnet.id.clone(), subnet.clone());
        Ok(subnet)
    }

    pub fn delete_subnet(&mut self, id: &str) -> Result<()> {
        self.subnet(id)?;
        if self
            .endpoints
            .values()
            .flat_map(|e| &e.interfaces)
            .chain(self.load_balancers.values().flat_map(|lb| &lb.interfaces))
            .any(|i| i.subnet == id)
        {
            return Err(ec2_error(
                "DependencyViolation",
                format!("The subnet '{id}' has dependencies and cannot be deleted."),
            ));
        }
        for table in self.route_tables.values_mut() {
            table.associations.retain(|(_, s)| s != id);
        }
        self.subnets.remove(id);
        Ok(())
    }

    pub fn create_route_table(&mut self, vpc: &str, tags: Tags) -> Result<RouteTable> {
        let cidr = self.vpc(vpc)?.cidr.clone();
        let table = RouteTable {
            id: new_id("rtb"),
            vpc: vpc.to_string(),
            main: false,
            main_association: None,
            routes: vec![Route {
                destination_cidr: Some(cidr),
                destination_prefix_list: None,
                target: "local".into(),
                origin: "CreateRouteTable".into(),
            }],
            associations: Vec::new(),
            tags,
        };
        self.route_tables.insert(table.id.clone(), table.clone());
        Ok(table)
    }

    pub fn delete_route_table(&mut self, id: &str) -> Result<()> {
        let table = self.route_table(id)?;
        if table.main || !table.associations.is_empty() {
            return Err(ec2_error(
                "DependencyViolation",
                format!("The routeTable '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.route_tables.remove(id);
        for endpoint in self.endpoints.values_mut() {
            endpoint.route_tables.retain(|r| r != id);
        }
        Ok(())
    }

    /// AssociateRouteTable: a subnet has one explicit table; associating replaces nothing,
    /// as EC2 refuses a second association.
    pub fn associate_route_table(&mut self, table: &str, subnet: &str) -> Result<String> {
        let vpc = self.route_table(table)?.vpc.clone();
        if self.subnet(subnet)?.vpc != vpc {
            return Err(ec2_error(
                "InvalidParameterValue",
                format!("Route table {table} and subnet {subnet} belong to different networks"),
            ));
        }
        if self
            .route_tables
            .values()
            .any(|t| t.associations.iter().any(|(_, s)| s == subnet))
        {
            return Err(ec2_error(
                "Resource.AlreadyAssociated",
                format!(
                    "the specified association for route table {table} conflicts with an existing association"
                ),
            ));
        }
        let id = new_id("rtbassoc");
        self.route_tables
            .get_mut(table)
            .expect("checked")
            .associations
            .push((id.clone(), subnet.to_string()));
        Ok(id)
    }

    pub fn disassociate_route_table(&mut self, association: &str) -> Result<()> {
        for table in self.route_tables.values_mut() {
            if let Some(i) = table
                .associations
                .iter()
                .position(|(a, _)| a == association)
            {
                table.associations.remove(i);
                return Ok(());
            }
        }
        Err(ec2_error(
            "InvalidAssociationID.NotFound",
            format!("The association ID '{association}' does not exist"),
        ))
    }

    /// CreateRoute to an internet gateway attached to the table's VPC.
    /// CreateRoute to an internet gateway of the table's VPC (`igw-…`) or through a peering
    /// connection of that VPC (`pcx-…`).
    pub fn create_route(&mut self, table: &str, cidr: &str, target: &str) -> Result<()> {
        let vpc = self.route_table(table)?.vpc.clone();
        let net = parse_cidr(cidr)?;
        if target.starts_with("pcx-") {
            if self.peering(target)?.peer_of(&vpc).is_none() {
                return Err(ec2_error(
                    "InvalidParameterValue",
                    format!(
                        "route table {table} and VPC peering connection {target} belong to different networks"
                    ),
                ));
            }
        } else {
            let Some(igw) = self.internet_gateways.get(target) else {
                return Err(ec2_error(
                    "InvalidGatewayID.NotFound",
                    format!("The gateway ID '{target}' does not exist"),
                ));
            };
            if igw.vpc.as_deref() != Some(vpc.as_str()) {
                return Err(ec2_error(
                    "InvalidParameterValue",
                    format!(
                        "route table {table} and network gateway {target} belong to different networks"
                    ),
                ));
            }
        }
        let table = self.route_tables.get_mut(table).expect("checked");
        if table
            .routes
            .iter()
            .any(|r| r.destination_cidr.as_deref() == Some(&net.to_string()))
        {
            return Err(ec2_error(
                "RouteAlreadyExists",
                format!("The route identified by {net} already exists."),
            ));
        }
        table.routes.push(Route {
            destination_cidr: Some(net.to_string()),
            destination_prefix_list: None,
            target: target.to_string(),
            origin: "CreateRoute".into(),
        });
        Ok(())
    }

    /// Whether a route carries traffic: a route through a peering connection only while the
    /// connection is active (otherwise EC2 shows it as `blackhole`).
    pub fn route_active(&self, route: &Route) -> bool {
        !route.target.starts_with("pcx-")
            || self
                .peerings
                .get(&route.target)
                .is_some_and(|p| p.status == "active")
    }

    pub fn delete_route(&mut self, table: &str, cidr: &str) -> Result<()> {
        self.route_table(table)?;
        let table_ref = self.route_tables.get_mut(table).expect("checked");
        let before = table_ref.routes.len();
        table_ref
            .routes
            .retain(|r| r.target == "local" || r.destination_cidr.as_deref() != Some(cidr));
        if table_ref.routes.len() == before {
            return Err(ec2_error(
                "InvalidRoute.NotFound",
                format!("no route with destination-cidr-block {cidr} in route table {table}"),
            ));
        }
        Ok(())
    }

    pub fn create_internet_gateway(&mut self, tags: Tags) -> InternetGateway {
        let igw = InternetGateway {
            id: new_id("igw"),
            vpc: None,
            tags,
        };
        self.internet_gateways.insert(igw.id.clone(), igw.clone());
        igw
    }

    pub fn attach_internet_gateway(&mut self, igw: &str, vpc: &str) -> Result<()> {
        self.vpc(vpc)?;
        let Some(gateway) = self.internet_gateways.get_mut(igw) else {
            return Err(ec2_error(
                "InvalidInternetGatewayID.NotFound",
                format!("The internetGateway ID '{igw}' does not exist"),
            ));
        };
        if gateway.vpc.is_some() {
            return Err(ec2_error(
                "Resource.AlreadyAssociated",
                format!(
                    "resource {igw} is already attached to network {}",
                    gateway.vpc.as_deref().unwrap_or_default()
                ),
            ));
        }
        gateway.vpc = Some(vpc.to_string());
        Ok(())
    }

    pub fn peering(&self, id: &str) -> Result<&PeeringConnection> {
        self.peerings.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidVpcPeeringConnectionID.NotFound",
                format!("The vpcPeeringConnection ID '{id}' does not exist"),
            )
        })
    }

    /// CreateVpcPeeringConnection between two VPCs of this account and region: it waits in
    /// `pending-acceptance` for AcceptVpcPeeringConnection; VPCs whose CIDRs overlap cannot
    /// be peered, and the connection is `failed` at once, as in AWS.
    pub fn create_peering(
        &mut self,
        requester: &str,
        accepter: &str,
        tags: Tags,
    ) -> Result<PeeringConnection> {
        let accepter_cidr = self.vpc(accepter)?.cidr.clone();
        let account = self.account.clone();
        self.create_peering_with(requester, accepter, &accepter_cidr, &account, tags)
    }

    /// A peering connection from this account's `requester` VPC to `accepter` (CIDR
    /// `accepter_cidr`) of `accepter_account`, stored here.
    pub(crate) fn create_peering_with(
        &mut self,
        requester: &str,
        accepter: &str,
        accepter_cidr: &str,
        accepter_account: &str,
        tags: Tags,
    ) -> Result<PeeringConnection> {
        let requester_cidr = self.vpc(requester)?.cidr.clone();
        let accepter_cidr = accepter_cidr.to_string();
        let across = accepter_account != self.account;
        if requester == accepter {
            return Err(ec2_error(
                "InvalidParameterValue",
                format!("Cannot peer a VPC with itself: {requester}"),
            ));
        }
        let overlap = match (
            requester_cidr.parse::<IpNet>(),
            accepter_cidr.parse::<IpNet>(),
        ) {
            (Ok(a), Ok(b)) => a.contains(&b.network()) || b.contains(&a.network()),
            _ => false,
        };
        let (status, message) = if overlap {
            ("failed", "Overlapping CIDR range".to_string())
        } else {
            (
                "pending-acceptance",
                format!("Pending Acceptance by {accepter_account}"),
            )
        };
        let peering = PeeringConnection {
            id: new_id("pcx"),
            requester_vpc: requester.to_string(),
            requester_cidr,
            accepter_vpc: accepter.to_string(),
            accepter_cidr,
            status: status.to_string(),
            message,
            created: now(),
            tags,
            accepter_account: if across {
                accepter_account.to_string()
            } else {
                String::new()
            },
            requester_account: if across {
                self.account.clone()
            } else {
                String::new()
            },
        };
        self.peerings.insert(peering.id.clone(), peering.clone());
        Ok(peering)
    }

    /// AcceptVpcPeeringConnection or RejectVpcPeeringConnection: only a connection pending
    /// acceptance can be either.
    pub fn answer_peering(&mut self, id: &str, accept: bool) -> Result<PeeringConnection> {
        let account = self.account.clone();
        let peering = self.peering(id)?;
        if peering.status != "pending-acceptance" {
            return Err(ec2_error(
                "InvalidStateTransition",
                format!(
                    "Invalid state transition for {id}, attempted to transition from {} to {}",
                    peering.status,
                    if accept { "active" } else { "rejected" }
                ),
            ));
        }
        let peering = self.peerings.get_mut(id).expect("checked");
        if accept {
            peering.status = "active".into();
            peering.message = "Active".into();
        } else {
            peering.status = "rejected".into();
            peering.message = format!("Rejected by {account}");
        }
        Ok(peering.clone())
    }

    /// DeleteVpcPeeringConnection: the connection stays visible as `deleted`, and routes
    /// through it no longer carry traffic.
    pub fn delete_peering(&mut self, id: &str) -> Result<()> {
        let account = self.account.clone();
        let peering = self.peering(id)?;
        if matches!(peering.status.as_str(), "deleted" | "rejected" | "failed") {
            return Err(ec2_error(
                "InvalidStateTransition",
                format!(
                    "Invalid state transition for {id}, attempted to transition from {} to deleted",
                    peering.status
                ),
            ));
        }
        let peering = self.peerings.get_mut(id).expect("checked");
        peering.status = "deleted".into();
        peering.message = format!("Deleted by {account}");
        Ok(())
    }

    /// CreateVpcEndpoint (Gateway): the endpoint, and a prefix-list route to it in each
    /// route table named.
    pub fn create_gateway_endpoint(
        &mut self,
        vpc: &str,
        service: &str,
        route_tables: &[String],
        policy: Option<&str>,
        tags: Tags,
    ) -> Result<VpcEndpoint> {
        self.vpc(vpc)?;
        if service != dynamodb_service(&self.region) {
            return Err(ec2_error(
                "InvalidServiceName",
                format!("The Vpc Endpoint Service '{service}' does not exist"),
            ));
        }
        let policy = match policy {
            Some(p) => {
                check_endpoint_policy(p)?;
                p.to_string()
            }
            None => DEFAULT_GATEWAY_POLICY.to_string(),
        };
        for table in route_tables {
            if self.route_table(table)?.vpc != vpc {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Route table {table} does not belong to vpc {vpc}"),
                ));
            }
        }
        if self.endpoints.values().any(|e| {
            e.vpc == vpc
                && e.service_name == service
                && route_tables.iter().any(|t| e.route_tables.contains(t))
        }) {
            return Err(ec2_error(
                "RouteAlreadyExists",
                "route table already has a route with destination-prefix-list-id for this service",
            ));
        }
        let endpoint = VpcEndpoint {
            id: new_id("vpce"),
            vpc: vpc.to_string(),
            service_name: service.to_string(),
            kind: "Gateway".into(),
            route_tables: Vec::new(),
            policy,
            created: now(),
            tags,
            interfaces: Vec::new(),
            security_groups: Vec::new(),
            dns_suffix: String::new(),
            connection: None,
            private_dns: false,
        };
        self.endpoints.insert(endpoint.id.clone(), endpoint.clone());
        for table in route_tables {
            self.add_endpoint_route(&endpoint.id, table);
        }
        Ok(self.endpoints[&endpoint.id].clone())
    }

    /// CreateVpcEndpoint (Interface): one network interface per subnet (one subnet per
    /// availability zone), each with the first free address of its subnet after the four
    /// AWS reserves, guarded by the security groups (the VPC's default group if none).
    pub fn create_interface_endpoint(
        &mut self,
        request: InterfaceRequest<'_>,
    ) -> Result<VpcEndpoint> {
        if request.service != dynamodb_service(&self.region) {
            return Err(crate::services::service_name_not_found(request.service));
        }
        self.add_interface_endpoint(request, None)
    }

    /// An interface endpoint to any service, the service's checks done by the caller; with
    /// `connection`, an endpoint to an endpoint service in that connection state.
    pub(crate) fn add_interface_endpoint(
        &mut self,
        request: InterfaceRequest<'_>,
        connection: Option<String>,
    ) -> Result<VpcEndpoint> {
        let InterfaceRequest {
            vpc,
            service,
            subnets,
            addresses,
            groups,
            policy,
            tags,
            private_dns,
        } = request;
        let default_group = self.vpc(vpc)?.default_security_group.clone();
        if subnets.is_empty() {
            return Err(ec2_error(
                "InvalidParameter",
                "At least one subnet must be specified for an Interface endpoint".to_string(),
            ));
        }
        let policy = match policy {
            Some(p) => {
                check_endpoint_policy(p)?;
                p.to_string()
            }
            None => DEFAULT_INTERFACE_POLICY.to_string(),
        };
        let groups: Vec<String> = if groups.is_empty() {
            vec![default_group]
        } else {
            groups.to_vec()
        };
        self.check_groups(vpc, &groups)?;
        let mut interfaces: Vec<NetworkInterface> = Vec::new();
        for id in subnets {
            let mut eni = self.new_interface(vpc, id, &interfaces)?;
            if let Some((_, ip)) = addresses.iter().find(|(s, _)| s == id) {
                eni.ip = self.requested_address(id, ip)?;
            }
            interfaces.push(eni);
        }
        let endpoint = VpcEndpoint {
            id: new_id("vpce"),
            vpc: vpc.to_string(),
            service_name: service.to_string(),
            kind: "Interface".into(),
            route_tables: Vec::new(),
            policy,
            created: now(),
            tags,
            interfaces,
            security_groups: groups,
            dns_suffix: random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 8),
            private_dns: connection.is_some() && private_dns,
            connection,
        };
        self.endpoints.insert(endpoint.id.clone(), endpoint.clone());
        Ok(endpoint)
    }

    /// An address asked for in `subnet`: inside its CIDR, not one of the five AWS reserves,
    /// and held by no other network interface.
    fn requested_address(&self, subnet: &str, ip: &str) -> Result<String> {
        let subnet = self.subnet(subnet)?;
        let invalid = |why: &str| {
            ec2_error(
                "InvalidParameterValue",
                format!("The IPv4 address {ip} {why} subnet {}", subnet.id),
            )
        };
        let Ok(addr) = ip.parse::<std::net::Ipv4Addr>() else {
            return Err(invalid("is not a valid address for"));
        };
        let Ok(IpNet::V4(net)) = subnet.cidr.parse::<IpNet>() else {
            return Err(EngineError::Corrupt("subnet CIDR".into()));
        };
        if !net.contains(&addr) {
            return Err(invalid("is not in the CIDR range of"));
        }
        let n = u32::from(addr);
        if n < u32::from(net.network()) + 4 || n >= u32::from(net.broadcast()) {
            return Err(invalid("is reserved by AWS in"));
        }
        let text = addr.to_string();
        if self
            .endpoints
            .values()
            .flat_map(|e| &e.interfaces)
            .chain(self.load_balancers.values().flat_map(|lb| &lb.interfaces))
            .any(|i| i.ip == text)
        {
            return Err(ec2_error(
                "InvalidIPAddress.InUse",
                format!("Address {text} is in use."),
            ));
        }
        Ok(text)
    }

    /// Every group must exist and belong to `vpc`.
    fn check_groups(&self, vpc: &str, groups: &[String]) -> Result<()> {
        for g in groups {
            if self.security_group(g)?.vpc != vpc {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Security group {g} does not belong to vpc {vpc}"),
                ));
            }
        }
        Ok(())
    }

    /// A new network interface for an endpoint in subnet `id` of `vpc`, beside the endpoint's
    /// `existing` interfaces (one per availability zone), at the subnet's first free address.
    fn new_interface(
        &self,
        vpc: &str,
        id: &str,
        existing: &[NetworkInterface],
    ) -> Result<NetworkInterface> {
        let subnet = self.subnet(id)?.clone();
        if subnet.vpc != vpc {
            return Err(ec2_error(
                "InvalidParameter",
                format!("Subnet {id} does not belong to vpc {vpc}"),
            ));
        }
        if existing
            .iter()
            .any(|i| i.availability_zone == subnet.availability_zone)
        {
            return Err(ec2_error(
                "DuplicateSubnetsInSameZone",
                format!(
                    "Found another VPC endpoint subnet in the availability zone of {id}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service."
                ),
            ));
        }
        self.interface_in(id, existing)
    }

    /// A new network interface in subnet `id` at its first free address, beside `existing`
    /// interfaces not stored yet. The caller has checked which VPC the subnet belongs to.
    pub(crate) fn interface_in(
        &self,
        id: &str,
        existing: &[NetworkInterface],
    ) -> Result<NetworkInterface> {
        let subnet = self.subnet(id)?;
        let ip = self.free_address(subnet, existing)?;
        Ok(NetworkInterface {
            id: new_id("eni"),
            subnet: id.to_string(),
            ip,
            availability_zone: subnet.availability_zone.clone(),
        })
    }

    /// The first address of a subnet no network interface holds, skipping the network
    /// address and the next three (AWS's router, DNS and reserved) and the last.
    /// Addresses of `also_taken` (interfaces not stored yet) count as held.
    fn free_address(&self, subnet: &Subnet, also_taken: &[NetworkInterface]) -> Result<String> {
        let Ok(IpNet::V4(net)) = subnet.cidr.parse::<IpNet>() else {
            return Err(EngineError::Corrupt("subnet CIDR".into()));
        };
        let used: Vec<&str> = self
            .endpoints
            .values()
            .flat_map(|e| e.interfaces.iter())
            .chain(
                self.load_balancers
                    .values()
                    .flat_map(|lb| lb.interfaces.iter()),
            )
            .chain(also_taken)
            .map(|i| i.ip.as_str())
            .collect();
        let first = u32::from(net.network()) + 4;
        let last = u32::from(net.broadcast()).saturating_sub(1);
        (first..=last)
            .map(|n| std::net::Ipv4Addr::from(n).to_string())
            .find(|ip| !used.contains(&ip.as_str()))
            .ok_or_else(|| {
                ec2_error(
                    "InsufficientFreeAddressesInSubnet",
                    format!("The subnet {} has no free addresses", subnet.id),
                )
            })
    }

    fn add_endpoint_route(&mut self, endpoint: &str, table: &str) {
        let prefix_list = dynamodb_prefix_list(&self.region);
        if let Some(t) = self.route_tables.get_mut(table)
            && !t.routes.iter().any(|r| r.target == endpoint)
        {
            t.routes.push(Route {
                destination_cidr: None,
                destination_prefix_list: Some(prefix_list),
                target: endpoint.to_string(),
                origin: "CreateRoute".into(),
            });
        }
        if let Some(e) = self.endpoints.get_mut(endpoint)
            && !e.route_tables.iter().any(|t| t == table)
        {
            e.route_tables.push(table.to_string());
        }
    }

    fn remove_endpoint_route(&mut self, endpoint: &str, table: &str) {
        if let Some(t) = self.route_tables.get_mut(table) {
            t.routes.retain(|r| r.target != endpoint);
        }
        if let Some(e) = self.endpoints.get_mut(endpoint) {
            e.route_tables.retain(|t| t != table);
        }
    }

    /// ModifyVpcEndpoint: policy (or ResetPolicy), route tables (gateway endpoints), subnets
    /// and security groups (interface endpoints). Every change is checked before any is
    /// made, so a refused request changes nothing.
    pub fn modify_endpoint(&mut self, id: &str, change: &EndpointChange) -> Result<()> {
        let endpoint = self.endpoint(id)?.clone();
        let vpc = endpoint.vpc.clone();
        let interface = endpoint.kind == "Interface";
        if let Some(p) = change.policy.as_deref() {
            check_endpoint_policy(p)?;
        }
        let tables = change
            .add_route_tables
            .iter()
            .chain(&change.remove_route_tables);
        let subnets = change.add_subnets.iter().chain(&change.remove_subnets);
        let groups = change
            .add_security_groups
            .iter()
            .chain(&change.remove_security_groups);
        if interface && tables.clone().next().is_some() {
            return Err(ec2_error(
                "InvalidParameter",
                "Route table IDs are only supported for Gateway type VPC Endpoint.".to_string(),
            ));
        }
        if !interface && (subnets.clone().next().is_some() || groups.clone().next().is_some()) {
            return Err(ec2_error(
                "InvalidParameter",
                "Subnet and security group IDs are only supported for Interface type VPC Endpoint."
                    .to_string(),
            ));
        }
        for table in tables {
            if self.route_table(table)?.vpc != vpc {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Route table {table} does not belong to vpc {vpc}"),
                ));
            }
        }
        // Interfaces: removed ones go first, so a subnet can replace another in its zone.
        let mut interfaces = endpoint.interfaces.clone();
        for subnet in &change.remove_subnets {
            self.subnet(subnet)?;
            if !interfaces.iter().any(|i| i.subnet == *subnet) {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Subnet {subnet} is not associated with the endpoint {id}"),
                ));
            }
            interfaces.retain(|i| i.subnet != *subnet);
        }
        for subnet in &change.add_subnets {
            if interfaces.iter().any(|i| i.subnet == *subnet) {
                continue;
            }
            let eni = self.new_interface(&vpc, subnet, &interfaces)?;
            interfaces.push(eni);
        }
        if interface && interfaces.is_empty() {
            return Err(ec2_error(
                "InvalidParameter",
                "At least one subnet must be specified for an Interface endpoint".to_string(),
            ));
        }
        let mut security_groups = endpoint.security_groups.clone();
        self.check_groups(&vpc, &change.add_security_groups)?;
        for g in &change.remove_security_groups {
            self.security_group(g)?;
            security_groups.retain(|x| x != g);
        }
        for g in &change.add_security_groups {
            if !security_groups.contains(g) {
                security_groups.push(g.clone());
            }
        }
        if interface && security_groups.is_empty() {
            return Err(ec2_error(
                "InvalidParameter",
                "At least one security group must be specified for an Interface endpoint"
                    .to_string(),
            ));
        }
        for table in &change.add_route_tables {
            self.add_endpoint_route(id, table);
        }
        for table in &change.remove_route_tables {
            self.remove_endpoint_route(id, table);
        }
        let endpoint = self.endpoints.get_mut(id).expect("checked");
        endpoint.interfaces = interfaces;
        endpoint.security_groups = security_groups;
        if change.reset_policy {
            endpoint.policy = if interface {
                DEFAULT_INTERFACE_POLICY
            } else {
                DEFAULT_GATEWAY_POLICY
            }
            .to_string();
        } else if let Some(p) = &change.policy {
            endpoint.policy = p.clone();
        }
        Ok(())
    }

    pub fn delete_endpoint(&mut self, id: &str) -> Result<()> {
        let tables = self.endpoint(id)?.route_tables.clone();
        for table in tables {
            self.remove_endpoint_route(id, &table);
        }
        self.endpoints.remove(id);
        Ok(())
    }

    /// The route table a subnet follows: its explicit association, else its VPC's main table.
    pub fn route_table_of(&self, subnet: &Subnet) -> Option<&RouteTable> {
        self.route_tables
            .values()
            .find(|t| t.associations.iter().any(|(_, s)| *s == subnet.id))
            .or_else(|| {
                self.vpcs
                    .get(&subnet.vpc)
                    .and_then(|v| self.route_tables.get(&v.main_route_table))
            })
    }
}

fn all_outbound() -> Permission {
    Permission {
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        cidrs: vec!["0.0.0.0/0".into()],
        groups: Vec::new(),
    }
}

impl NetworkState {
    pub fn security_group(&self, id: &str) -> Result<&SecurityGroup> {
        self.security_groups.get(id).ok_or_else(|| {
            ec2_error(
                "InvalidGroup.NotFound",
                format!("The security group '{id}' does not exist"),
            )
        })
    }

    /// CreateSecurityGroup: a new group with EC2's default egress rule and no ingress.
    pub fn create_security_group(
        &mut self,
        vpc: &str,
        name: &str,
        description: &str,
        tags: Tags,
    ) -> Result<SecurityGroup> {
        self.vpc(vpc)?;
        if name.to_ascii_lowercase().starts_with("sg-") {
            return Err(ec2_error(
                "InvalidParameterValue",
                "Group names may not be in the format sg-*".to_string(),
            ));
        }
        if self
            .security_groups
            .values()
            .any(|g| g.vpc == vpc && g.name == name)
        {
            return Err(ec2_error(
                "InvalidGroup.Duplicate",
                format!("The security group '{name}' already exists for VPC '{vpc}'"),
            ));
        }
        let group = SecurityGroup {
            id: new_id("sg"),
            vpc: vpc.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            ingress: Vec::new(),
            egress: vec![all_outbound()],
            tags,
        };
        self.security_groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    pub fn delete_security_group(&mut self, id: &str) -> Result<()> {
        let group = self.security_group(id)?;
        if group.name == "default" {
            return Err(ec2_error(
                "CannotDelete",
                format!(
                    "the specified group: \"{id}\" name: \"default\" cannot be deleted by a user"
                ),
            ));
        }
        let referenced = self.security_groups.values().any(|g| {
            g.id != id
                && g.ingress
                    .iter()
                    .chain(&g.egress)
                    .any(|p| p.groups.iter().any(|r| r == id))
        });
        if referenced {
            return Err(ec2_error(
                "DependencyViolation",
                format!("resource {id} has a dependent object"),
            ));
        }
        self.security_groups.remove(id);
        Ok(())
    }

    /// Authorize/RevokeSecurityGroupIngress/Egress.
    pub fn change_rules(
        &mut self,
        id: &str,
        ingress: bool,
        authorize: bool,
        permissions: Vec<Permission>,
    ) -> Result<()> {
        self.security_group(id)?;
        for p in &permissions {
            for g in &p.groups {
                self.security_group(g)?;
            }
            for c in &p.cidrs {
                parse_cidr(c)?;
            }
        }
        let group = self.security_groups.get_mut(id).expect("checked");
        let rules = if ingress {
            &mut group.ingress
        } else {
            &mut group.egress
        };
        for p in permissions {
            // Rules are compared one source at a time, as EC2 reports duplicates.
            for single in split_sources(&p) {
                let present = rules.iter().any(|r| split_sources(r).contains(&single));
                match (authorize, present) {
                    (true, true) => {
                        return Err(ec2_error(
                            "InvalidPermission.Duplicate",
                            format!(
                                "the specified rule \"peer: {}, {}, ALLOW\" already exists",
                                single
                                    .cidrs
                                    .first()
                                    .or(single.groups.first())
                                    .cloned()
                                    .unwrap_or_default(),
                                describe_ports(&single)
                            ),
                        ));
                    }
                    (true, false) => rules.push(single),
                    (false, true) => {
                        for r in rules.iter_mut() {
                            let same_shape = r.protocol == single.protocol
                                && r.from_port == single.from_port
                                && r.to_port == single.to_port;
                            if same_shape {
                                r.cidrs.retain(|c| !single.cidrs.contains(c));
                                r.groups.retain(|g| !single.groups.contains(g));
                            }
                        }
                        rules.retain(|r| !r.cidrs.is_empty() || !r.groups.is_empty());
                    }
                    (false, false) => {
                        return Err(ec2_error(
                            "InvalidPermission.NotFound",
                            "The specified rule does not exist in this security group.".to_string(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn describe_ports(p: &Permission) -> String {
    match (p.protocol.as_str(), p.from_port, p.to_port) {
        ("-1", _, _) => "ALL".into(),
        (proto, Some(from), Some(to)) => format!("{} {from}-{to}", proto.to_uppercase()),
        (proto, _, _) => proto.to_uppercase(),
    }
}

/// A rule as one rule per source.
fn split_sources(p: &Permission) -> Vec<Permission> {
    let one = |cidrs: Vec<String>, groups: Vec<String>| Permission {
        protocol: p.protocol.clone(),
        from_port: p.from_port,
        to_port: p.to_port,
        cidrs,
        groups,
    };
    p.cidrs
        .iter()
        .map(|c| one(vec![c.clone()], Vec::new()))
        .chain(p.groups.iter().map(|g| one(Vec::new(), vec![g.clone()])))
        .collect()
}

/// EC2's checks of an endpoint policy: size and grammar.
pub fn check_endpoint_policy(document: &str) -> Result<()> {
    if document.len() > MAX_ENDPOINT_POLICY {
        return Err(ec2_error(
            "InvalidPolicyDocument",
            format!("Policy document exceeds the maximum size of {MAX_ENDPOINT_POLICY} characters"),
        ));
    }
    Policy::parse(document, PolicyKind::Endpoint)
        .map(|_| ())
        .map_err(|e| ec2_error("MalformedPolicyDocument", e.to_string()))
}

/// A VPC endpoint (gateway or interface) as authorization sees it.
#[derive(Debug)]
pub struct EndpointPath {
    pub endpoint: String,
    pub vpc: String,
    /// The account that owns the endpoint (`aws:VpceAccount`).
    pub account: String,
    /// The region of the DynamoDB service the endpoint reaches.
    pub region: String,
    pub policy: Arc<Policy>,
    /// The policy allows everything unconditionally (the default): evaluating it can only
    /// allow, so the root user's requests through the endpoint need no evaluation.
    pub allows_everything: bool,
}

impl EndpointPath {
    fn new(endpoint: &VpcEndpoint, account: &str, region: &str, policy: Policy) -> EndpointPath {
        EndpointPath {
            endpoint: endpoint.id.clone(),
            vpc: endpoint.vpc.clone(),
            account: account.to_string(),
            region: region.to_string(),
            allows_everything: policy.allows_everything(),
            policy: Arc::new(policy),
        }
    }

    /// An endpoint Cove does not manage, named by a trusted proxy (a real AWS endpoint, whose
    /// policy AWS applies): full access as far as Cove is concerned.
    pub fn foreign(id: &str) -> EndpointPath {
        EndpointPath {
            endpoint: id.to_string(),
            vpc: String::new(),
            account: String::new(),
            region: String::new(),
            policy: Arc::new(
                Policy::parse(DEFAULT_GATEWAY_POLICY, PolicyKind::Endpoint)
                    .expect("the default endpoint policy parses"),
            ),
            allows_everything: true,
        }
    }
}

/// How one subnet reaches DynamoDB.
#[derive(Debug)]
pub struct SubnetRoute {
    pub net: IpNet,
    pub account: String,
    pub vpc: String,
    pub subnet: String,
    /// A 0.0.0.0/0 route to an internet gateway: the public path.
    pub internet: bool,
    pub gateways: Vec<EndpointPath>,
    /// Routes through active peering connections: (destination, the peer VPC).
    pub peer_routes: Vec<(IpNet, String)>,
}

impl SubnetRoute {
    /// Whether any route leads to DynamoDB at all.
    pub fn reachable(&self) -> bool {
        self.internet || !self.gateways.is_empty()
    }

    /// The gateway endpoint a request for `region` takes from this subnet, if any.
    pub fn gateway(&self, region: &str) -> Option<&EndpointPath> {
        self.gateways.iter().find(|g| g.region == region)
    }
}

/// One address an interface endpoint listens on, with what guards it.
#[derive(Debug)]
pub struct InterfaceListener {
    pub ip: IpAddr,
    pub endpoint: Arc<EndpointPath>,
    /// The ingress rules of the endpoint's security groups.
    pub ingress: Vec<Permission>,
    /// The security groups of every network interface, by address: a source that is such
    /// an interface is a member of those groups.
    pub members: Arc<HashMap<IpAddr, Vec<String>>>,
    /// Every DNS name of the endpoint (regional, zonal, and their `streams.` forms), which its
    /// HTTPS certificate names.
    pub names: Vec<String>,
    /// The routes of this interface's subnet through active peering connections: the way
    /// back to clients in peered VPCs.
    pub return_routes: Vec<(IpNet, String)>,
}

impl InterfaceListener {
    /// Whether packets from `source` (in `subnet`, or outside every VPC when `None`) reach
    /// this interface and its answers get back: from its own VPC always; from another VPC
    /// only when that subnet routes this address through an active peering connection with
    /// the endpoint's VPC and this interface's subnet routes the source back through one;
    /// from outside every VPC (on-premises, over VPN or Direct Connect) always, as the
    /// security groups then decide. Gateway endpoints are not reachable across peering;
    /// interface endpoints are, as in AWS.
    pub fn reachable_from(&self, source: IpAddr, subnet: Option<&SubnetRoute>) -> bool {
        let Some(subnet) = subnet else {
            return true;
        };
        if subnet.vpc == self.endpoint.vpc {
            return true;
        }
        let there = subnet
            .peer_routes
            .iter()
            .any(|(net, peer)| *peer == self.endpoint.vpc && net.contains(&self.ip));
        let back = self
            .return_routes
            .iter()
            .any(|(net, peer)| *peer == subnet.vpc && net.contains(&source));
        there && back
    }

    /// Whether the security groups admit a TCP connection from `source` on `port`.
    pub fn admits(&self, source: IpAddr, port: u16) -> bool {
        let groups = self.members.get(&source).map(Vec::as_slice).unwrap_or(&[]);
        self.ingress
            .iter()
            .any(|p| p.admits_tcp(source, port, groups))
    }
}

/// Every subnet of every account and region, most specific first, and every interface
/// endpoint address.
#[derive(Debug, Default)]
pub struct NetworkView {
    pub subnets: Vec<Arc<SubnetRoute>>,
    pub interfaces: Vec<Arc<InterfaceListener>>,
    /// Every gateway endpoint, for proxies that name one.
    pub gateways: Vec<Arc<EndpointPath>>,
    /// The DNS names of every interface endpoint (lower case, no trailing dot) with the
    /// addresses they resolve to: the regional names every network interface's, in the
    /// endpoint's order, and each zonal name the addresses in its zone.
    pub dns: HashMap<String, Vec<Ipv4Addr>>,
    /// Every network load balancer listener: one per (load balancer address, port).
    pub balancers: Vec<Arc<BalancerListener>>,
    /// Endpoint services' private DNS names (lower case) as their consumers resolve them:
    /// for each consumer VPC whose endpoint enables private DNS, that endpoint's addresses.
    pub private_dns: HashMap<String, Vec<(String, Vec<Ipv4Addr>)>>,
}

impl NetworkView {
    /// A Cove endpoint by id (gateway or interface), as authorization sees it.
    pub fn endpoint(&self, id: &str) -> Option<Arc<EndpointPath>> {
        if let Some(i) = self.interfaces.iter().find(|i| i.endpoint.endpoint == id) {
            return Some(Arc::clone(&i.endpoint));
        }
        self.gateways.iter().find(|g| g.endpoint == id).cloned()
    }

    /// The subnet a source address is in (the most specific CIDR; on a tie, the one listed
    /// first), or `None` for a source outside every subnet: the public path.
    pub fn subnet_of(&self, ip: IpAddr) -> Option<Arc<SubnetRoute>> {
        self.subnets.iter().find(|s| s.net.contains(&ip)).cloned()
    }
}

/// The routes of `table` through active peering connections, with the peer VPC of each.
fn peer_routes(state: &NetworkState, table: &RouteTable) -> Vec<(IpNet, String)> {
    table
        .routes
        .iter()
        .filter(|r| state.route_active(r))
        .filter_map(|r| {
            let peer = state.peerings.get(&r.target)?.peer_of(&table.vpc)?;
            let net = r.destination_cidr.as_deref()?.parse().ok()?;
            Some((net, peer.to_string()))
        })
        .collect()
}

pub(crate) fn compile(states: &HashMap<(String, String), NetworkState>) -> NetworkView {
    let mut subnets = Vec::new();
    let mut keys: Vec<&(String, String)> = states.keys().collect();
    keys.sort();
    for key in keys {
        let state = &states[key];
        for subnet in state.subnets.values() {
            let Ok(net) = subnet.cidr.parse::<IpNet>() else {
                continue;
            };
            let Some(table) = state.route_table_of(subnet) else {
                continue;
            };
            let internet = table.routes.iter().any(|r| {
                r.destination_cidr.as_deref() == Some("0.0.0.0/0") && r.target.starts_with("igw-")
            });
            let gateways = table
                .routes
                .iter()
                .filter_map(|r| state.endpoints.get(&r.target))
                .filter(|e| e.kind == "Gateway")
                .filter_map(|e| {
                    let policy = Policy::parse(&e.policy, PolicyKind::Endpoint).ok()?;
                    Some(EndpointPath::new(e, &state.account, &state.region, policy))
                })
                .collect();
            subnets.push(Arc::new(SubnetRoute {
                net,
                account: state.account.clone(),
                vpc: subnet.vpc.clone(),
                subnet: subnet.id.clone(),
                internet,
                gateways,
                peer_routes: peer_routes(state, table),
            }));
        }
    }
    // Most specific first; the sort is stable, so ties keep account/region order.
    subnets.sort_by_key(|s| std::cmp::Reverse(s.net.prefix_len()));
    let mut members: HashMap<IpAddr, Vec<String>> = HashMap::new();
    for state in states.values() {
        for e in state.endpoints.values() {
            for eni in &e.interfaces {
                if let Ok(ip) = eni.ip.parse() {
                    members.insert(ip, e.security_groups.clone());
                }
            }
        }
    }
    let members = Arc::new(members);
    let mut interfaces = Vec::new();
    let mut balancers: Vec<Arc<BalancerListener>> = states
        .values()
        .flat_map(crate::balancer::compile)
        .map(Arc::new)
        .collect();
    for state in states.values() {
        for e in state.endpoints.values().filter(|e| e.kind == "Interface") {
            // Endpoints to an endpoint service carry traffic only once accepted, and then
            // through the service's load balancer.
            let service = match e.service_id() {
                None => None,
                Some(_) if e.connection.as_deref() != Some("accepted") => continue,
                Some(_) => {
                    let found = states
                        .iter()
                        .filter(|((_, region), _)| *region == state.region)
                        .find_map(|(_, s)| {
                            s.endpoint_services
                                .values()
                                .find(|svc| svc.name == e.service_name)
                                .map(|svc| (s, svc))
                        });
                    match found {
                        Some(found) => Some(found),
                        None => continue,
                    }
                }
            };
            let Ok(policy) = Policy::parse(&e.policy, PolicyKind::Endpoint) else {
                continue;
            };
            let path = Arc::new(EndpointPath::new(e, &state.account, &state.region, policy));
            let names: Vec<String> = e
                .resolvable_names(&state.region)
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let ingress: Vec<Permission> = e
                .security_groups
                .iter()
                .filter_map(|g| state.security_groups.get(g))
                .flat_map(|g| g.ingress.iter().cloned())
                .collect();
            let mut guards = Vec::new();
            for eni in &e.interfaces {
                let return_routes = state
                    .subnets
                    .get(&eni.subnet)
                    .and_then(|subnet| state.route_table_of(subnet))
                    .map(|table| peer_routes(state, table))
                    .unwrap_or_default();
                if let Ok(ip) = eni.ip.parse() {
                    guards.push((
                        eni.clone(),
                        Arc::new(InterfaceListener {
                            ip,
                            endpoint: Arc::clone(&path),
                            ingress: ingress.clone(),
                            members: Arc::clone(&members),
                            names: names.clone(),
                            return_routes,
                        }),
                    ));
                }
            }
            match service {
                None => interfaces.extend(guards.into_iter().map(|(_, g)| g)),
                Some((provider, svc)) => balancers.extend(
                    crate::balancer::compile_endpoint(provider, svc, &guards)
                        .into_iter()
                        .map(Arc::new),
                ),
            }
        }
    }
    let mut gateways = Vec::new();
    for state in states.values() {
        for e in state.endpoints.values().filter(|e| e.kind == "Gateway") {
            if let Ok(policy) = Policy::parse(&e.policy, PolicyKind::Endpoint) {
                gateways.push(Arc::new(EndpointPath::new(
                    e,
                    &state.account,
                    &state.region,
                    policy,
                )));
            }
        }
    }
    NetworkView {
        subnets,
        interfaces,
        gateways,
        dns: dns_table(states),
        balancers,
        private_dns: private_dns_table(states),
    }
}

/// The table of [`NetworkView::private_dns`]: each accepted endpoint with private DNS on, by
/// its service's private DNS name.
fn private_dns_table(states: &States) -> HashMap<String, Vec<(String, Vec<Ipv4Addr>)>> {
    let mut names: HashMap<String, Vec<(String, Vec<Ipv4Addr>)>> = HashMap::new();
    for ((_, region), state) in states {
        for e in state.endpoints.values() {
            if !e.private_dns || e.connection.as_deref() != Some("accepted") {
                continue;
            }
            let private_name = states
                .iter()
                .filter(|((_, r), _)| r == region)
                .flat_map(|(_, s)| s.endpoint_services.values())
                .find(|svc| svc.name == e.service_name)
                .and_then(|svc| svc.private_dns_name.clone());
            if let Some(name) = private_name {
                let ips = e
                    .interfaces
                    .iter()
                    .filter_map(|i| i.ip.parse().ok())
                    .collect();
                names
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .push((e.vpc.clone(), ips));
            }
        }
    }
    names
}

/// The DNS table of [`NetworkView::dns`]: every resolvable name of every interface endpoint.
fn dns_table(states: &HashMap<(String, String), NetworkState>) -> HashMap<String, Vec<Ipv4Addr>> {
    let mut dns: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    for state in states.values() {
        for e in state.endpoints.values() {
            for (name, zone) in e.resolvable_names(&state.region) {
                let ips: Vec<Ipv4Addr> = e
                    .interfaces
                    .iter()
                    .filter(|i| zone.as_ref().is_none_or(|z| *z == i.availability_zone))
                    .filter_map(|i| i.ip.parse().ok())
                    .collect();
                dns.insert(name.to_ascii_lowercase(), ips);
            }
        }
    }
    dns
}

impl NetworkView {
    /// The addresses an endpoint service's private DNS name resolves to in `vpc`: those of
    /// the VPC's endpoint to the service, when it enables private DNS. Matched without
    /// regard to case, with or without the root's dot.
    pub fn private_dns_lookup(&self, name: &str, vpc: &str) -> Option<&[Ipv4Addr]> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        self.private_dns
            .get(&name)?
            .iter()
            .find(|(v, _)| v == vpc)
            .map(|(_, ips)| ips.as_slice())
    }

    /// The addresses a DNS name resolves to, if it is an interface endpoint's name. The name
    /// is matched without regard to case and may end with the root's dot, as DNS names do.
    pub fn dns_lookup(&self, name: &str) -> Option<&[Ipv4Addr]> {
        let name = name.strip_suffix('.').unwrap_or(name);
        match self.dns.get(name) {
            Some(ips) => Some(ips.as_slice()),
            None => self.dns.get(&name.to_ascii_lowercase()).map(Vec::as_slice),
        }
    }
}

pub(crate) fn network_key(account: &str, region: &str) -> Vec<u8> {
    let mut k = vec![keys::NETWORK];
    k.extend_from_slice(account.as_bytes());
    k.push(b'/');
    k.extend_from_slice(region.as_bytes());
    k
}

pub(crate) type States = HashMap<(String, String), NetworkState>;

/// Loads every (account, region)'s network record and compiles the view.
pub(crate) fn load(view: &dyn cove_storage::ReadView) -> Result<(States, Arc<NetworkView>)> {
    let entries = view.scan(&KeyRange::prefix(&[keys::NETWORK]), ScanOptions::default())?;
    let mut states = HashMap::new();
    for (_, value) in entries {
        let state: NetworkState = serde_json::from_slice(&value)
            .map_err(|e| EngineError::Corrupt(format!("network record: {e}")))?;
        states.insert((state.account.clone(), state.region.clone()), state);
    }
    let view = Arc::new(compile(&states));
    Ok((states, view))
}

impl Engine {
    /// Reads one (account, region)'s network.
    pub fn network_read<T>(
        &self,
        account: &str,
        region: &str,
        f: impl FnOnce(&NetworkState) -> T,
    ) -> T {
        let guard = self.network.read().unwrap_or_else(|e| e.into_inner());
        match guard.0.get(&(account.to_string(), region.to_string())) {
            Some(state) => f(state),
            None => f(&NetworkState::new(account, region)),
        }
    }

    /// Changes one (account, region)'s network: `f` works on a copy, which is stored and
    /// becomes current (with a new compiled view) only if `f` succeeds.
    pub fn network_update<T>(
        &self,
        account: &str,
        region: &str,
        f: impl FnOnce(&mut NetworkState) -> Result<T>,
    ) -> Result<T> {
        let _serial = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh()?;
        // The generation is read before the copy, so the copy is at least that new.
        let expected = self.generation(Area::Network);
        let mut copy = self.network_read(account, region, Clone::clone);
        let out = f(&mut copy)?;
        let bytes = serde_json::to_vec(&copy).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(network_key(account, region), bytes);
        let generation = self.commit_control(batch, Area::Network, Some(expected))?;
        self.installed(Area::Network, generation, || {
            let mut guard = self.network.write().unwrap_or_else(|e| e.into_inner());
            guard
                .0
                .insert((account.to_string(), region.to_string()), copy);
            guard.1 = Arc::new(compile(&guard.0));
        });
        Ok(out)
    }

    /// The compiled network view, for the accept loop and authorization.
    pub fn network_view(&self) -> Arc<NetworkView> {
        Arc::clone(&self.network.read().unwrap_or_else(|e| e.into_inner()).1)
    }
}

#[cfg(test)]
mod dns_tests {
    use cove_storage::Storage;
    use cove_storage::memory::MemoryBackend;

    use super::*;

    const ACCOUNT: &str = "000000000000";
    const REGION: &str = "us-east-2";

    /// An engine with one VPC, subnets in zones a and b, and an interface endpoint in both.
    fn with_endpoint() -> (Engine, VpcEndpoint) {
        let engine = Engine::open(Storage::new(MemoryBackend::new())).unwrap();
        let endpoint = engine
            .network_update(ACCOUNT, REGION, |s| {
                let vpc = s.create_vpc("127.50.0.0/16", Tags::new())?.id;
                let a = s.create_subnet(&vpc, "127.50.1.0/24", "us-east-2a", Tags::new())?;
                let b = s.create_subnet(&vpc, "127.50.2.0/24", "us-east-2b", Tags::new())?;
                s.create_interface_endpoint(InterfaceRequest {
                    vpc: &vpc,
                    service: &dynamodb_service(REGION),
                    subnets: &[a.id, b.id],
                    ..InterfaceRequest::default()
                })
            })
            .unwrap();
        (engine, endpoint)
    }

    fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    #[test]
    fn regional_zonal_and_streams_names_resolve_to_their_interfaces() {
        let (engine, e) = with_endpoint();
        let view = engine.network_view();
        let base = format!("{}-{}", e.id, e.dns_suffix);
        let both = ips(&["127.50.1.4", "127.50.2.4"]);
        for service in ["dynamodb", "streams.dynamodb"] {
            let regional = format!("{base}.{service}.{REGION}.vpce.amazonaws.com");
            assert_eq!(view.dns_lookup(&regional), Some(both.as_slice()));
            let zone_a = format!("{base}-us-east-2a.{service}.{REGION}.vpce.amazonaws.com");
            assert_eq!(view.dns_lookup(&zone_a), Some(&both[..1]));
            let zone_b = format!("{base}-us-east-2b.{service}.{REGION}.vpce.amazonaws.com");
            assert_eq!(view.dns_lookup(&zone_b), Some(&both[1..]));
        }
        // Two endpoint names per service and zone, plus the regional ones: six in all.
        assert_eq!(view.dns.len(), 6);
        let upper = format!("{base}.DynamoDB.{REGION}.VPCE.amazonaws.com.").to_uppercase();
        assert_eq!(view.dns_lookup(&upper), Some(both.as_slice()));
        let unknown = format!("{}-zzzzzzzz.dynamodb.{REGION}.vpce.amazonaws.com", e.id);
        assert_eq!(view.dns_lookup(&unknown), None);
    }

    #[test]
    fn a_deleted_endpoint_leaves_the_table() {
        let (engine, e) = with_endpoint();
        engine
            .network_update(ACCOUNT, REGION, |s| s.delete_endpoint(&e.id))
            .unwrap();
        assert!(engine.network_view().dns.is_empty());
    }
}
