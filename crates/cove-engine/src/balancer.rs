//! Network Load Balancers as Elastic Load Balancing v2 describes them: load balancers with one
//! network interface (a private address) per subnet, TCP target groups of IP targets with
//! health-check settings and attributes (Proxy Protocol v2, deregistration delay), and TCP
//! listeners forwarding to a target group. They live in each (account, region)'s network
//! record beside the VPCs they sit in, and compile into [`BalancerListener`]s, which the
//! server's L4 proxy serves; no sockets here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::credentials::random_string;
use crate::network::{InterfaceListener, NetworkInterface, NetworkState, Tags, now};
use crate::services::EndpointService;
use crate::{EngineError, Result};

fn elb_error(code: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Elb(code, message.into())
}

/// 16 lower-case hex digits, the last part of ELB's ARNs.
fn elb_id() -> String {
    random_string(b"0123456789abcdef", 16)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub vpc: String,
    /// `internal` or `internet-facing`.
    pub scheme: String,
    pub created: i64,
    /// One network interface per subnet (one subnet per availability zone).
    pub interfaces: Vec<NetworkInterface>,
    pub cross_zone: bool,
    #[serde(default)]
    pub tags: Tags,
}

impl LoadBalancer {
    /// `<name>-<16 hex>.elb.<region>.amazonaws.com`.
    pub fn dns_name(&self, region: &str) -> String {
        let id = self.arn.rsplit('/').next().unwrap_or_default();
        format!("{}-{id}.elb.{region}.amazonaws.com", self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub ip: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthCheck {
    /// `TCP` or `HTTP`.
    pub protocol: String,
    /// `traffic-port` or a port number.
    pub port: String,
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The HTTP codes that count as healthy (`200-399`, `200,202`).
    pub matcher: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub vpc: String,
    pub port: u16,
    pub health: HealthCheck,
    pub targets: Vec<Target>,
    pub proxy_protocol_v2: bool,
    pub deregistration_delay: u32,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Listener {
    pub arn: String,
    pub load_balancer: String,
    pub port: u16,
    pub target_group: String,
    /// `tcp.idle_timeout.seconds`: a flow with no data either way for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u32,
}

/// ELB's default idle timeout of TCP flows through a network load balancer.
pub const DEFAULT_IDLE_TIMEOUT: u32 = 350;

fn default_idle_timeout() -> u32 {
    DEFAULT_IDLE_TIMEOUT
}

/// What a CreateTargetGroup asks for, defaults applied by the caller where ELB has them.
#[derive(Debug, Clone)]
pub struct TargetGroupRequest {
    pub name: String,
    pub vpc: String,
    pub port: u16,
    pub health: HealthCheck,
    pub tags: Tags,
}

/// Names: up to 32 alphanumerics and hyphens, not starting or ending with a hyphen.
fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(elb_error(
            "ValidationError",
            format!(
                "{what} name '{name}' can have a maximum of 32 characters, can contain only alphanumeric characters and hyphens, and must not begin or end with a hyphen"
            ),
        ))
    }
}

impl NetworkState {
    pub fn load_balancer(&self, arn: &str) -> Result<&LoadBalancer> {
        self.load_balancers.get(arn).ok_or_else(|| {
            elb_error(
                "LoadBalancerNotFound",
                format!("Load balancer '{arn}' not found"),
            )
        })
    }

    pub fn target_group(&self, arn: &str) -> Result<&TargetGroup> {
        self.target_groups.get(arn).ok_or_else(|| {
            elb_error(
                "TargetGroupNotFound",
                format!("Target groups '{arn}' not found"),
            )
        })
    }

    /// CreateLoadBalancer (type network): one network interface per subnet, each at its
    /// subnet's first free address. Names are unique per account and region.
    pub fn create_load_balancer(
        &mut self,
        name: &str,
        subnets: &[String],
        scheme: &str,
        tags: Tags,
    ) -> Result<LoadBalancer> {
        check_name(name, "Load balancer")?;
        if self.load_balancers.values().any(|lb| lb.name == name) {
            return Err(elb_error(
                "DuplicateLoadBalancerName",
                "A load balancer with the same name already exists",
            ));
        }
        let Some(first) = subnets.first() else {
            return Err(elb_error(
                "ValidationError",
                "At least one subnet must be specified",
            ));
        };
        let vpc = self.subnet(first)?.vpc.clone();
        let mut interfaces = Vec::new();
        for id in subnets {
            let subnet = self.subnet(id)?;
            if subnet.vpc != vpc {
                return Err(elb_error(
                    "InvalidSubnet",
                    format!("Subnet '{id}' is not in VPC '{vpc}'"),
                ));
            }
            if interfaces
                .iter()
                .any(|i: &NetworkInterface| i.availability_zone == subnet.availability_zone)
            {
                return Err(elb_error(
                    "InvalidConfigurationRequest",
                    "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
                ));
            }
            interfaces.push(self.interface_in(id, &interfaces)?);
        }
        let lb = LoadBalancer {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/net/{name}/{}",
                self.region,
                self.account,
                elb_id()
            ),
            name: name.to_string(),
            vpc,
            scheme: scheme.to_string(),
            created: now(),
            interfaces,
            cross_zone: false,
            tags,
        };
        self.load_balancers.insert(lb.arn.clone(), lb.clone());
        Ok(lb)
    }

    pub fn delete_load_balancer(&mut self, arn: &str) -> Result<()> {
        if let Some(service) = self
            .endpoint_services
            .values()
            .find(|s| s.load_balancers.iter().any(|a| a == arn))
        {
            return Err(elb_error(
                "ResourceInUse",
                format!(
                    "Load balancer '{arn}' cannot be deleted because it is currently associated with another service: {}",
                    service.id
                ),
            ));
        }
        // Deleting a load balancer that does not exist succeeds, as in ELB.
        if let Some(lb) = self.load_balancers.remove(arn) {
            self.listeners.retain(|_, l| l.load_balancer != lb.arn);
        }
        Ok(())
    }

    pub fn set_cross_zone(&mut self, arn: &str, on: bool) -> Result<()> {
        self.load_balancer(arn)?;
        if let Some(lb) = self.load_balancers.get_mut(arn) {
            lb.cross_zone = on;
        }
        Ok(())
    }

    /// CreateTargetGroup (TCP, IP targets).
    pub fn create_target_group(&mut self, request: TargetGroupRequest) -> Result<TargetGroup> {
        check_name(&request.name, "Target group")?;
        self.vpc(&request.vpc)?;
        if self.target_groups.values().any(|t| t.name == request.name) {
            return Err(elb_error(
                "DuplicateTargetGroupName",
                "A target group with the same name exists, but with different settings",
            ));
        }
        let h = &request.health;
        if !(5..=300).contains(&h.interval_seconds)
            || !(2..=120).contains(&h.timeout_seconds)
            || !(2..=10).contains(&h.healthy_threshold)
            || !(2..=10).contains(&h.unhealthy_threshold)
        {
            return Err(elb_error(
                "ValidationError",
                "Health check interval must be 5-300 seconds, timeout 2-120 seconds, and thresholds 2-10",
            ));
        }
        let group = TargetGroup {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}/{}",
                self.region,
                self.account,
                request.name,
                elb_id()
            ),
            name: request.name,
            vpc: request.vpc,
            port: request.port,
            health: request.health,
            targets: Vec::new(),
            proxy_protocol_v2: false,
            deregistration_delay: 300,
            tags: request.tags,
        };
        self.target_groups.insert(group.arn.clone(), group.clone());
        Ok(group)
    }

    pub fn delete_target_group(&mut self, arn: &str) -> Result<()> {
        if self.listeners.values().any(|l| l.target_group == arn) {
            return Err(elb_error(
                "ResourceInUse",
                format!("Target group '{arn}' is currently in use by a listener or a rule"),
            ));
        }
        self.target_groups.remove(arn);
        Ok(())
    }

    /// RegisterTargets / DeregisterTargets. A target's port defaults to the group's.
    /// Targets may be any IPv4 address (on-premises targets included), as with IP targets
    /// reached over Direct Connect or VPN.
    pub fn change_targets(
        &mut self,
        arn: &str,
        targets: &[(String, Option<u16>)],
        register: bool,
    ) -> Result<()> {
        let default_port = self.target_group(arn)?.port;
        let mut parsed = Vec::new();
        for (ip, port) in targets {
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(elb_error(
                    "InvalidTarget",
                    format!("The IP address '{ip}' is not a valid IPv4 address"),
                ));
            }
            parsed.push(Target {
                ip: ip.clone(),
                port: port.unwrap_or(default_port),
            });
        }
        let group = self.target_groups.get_mut(arn).expect("checked");
        for t in parsed {
            if register {
                if !group.targets.contains(&t) {
                    group.targets.push(t);
                }
            } else {
                group.targets.retain(|x| *x != t);
            }
        }
        Ok(())
    }

    pub fn set_target_group_attributes(
        &mut self,
        arn: &str,
        proxy_protocol_v2: Option<bool>,
        deregistration_delay: Option<u32>,
    ) -> Result<()> {
        self.target_group(arn)?;
        let group = self.target_groups.get_mut(arn).expect("checked");
        if let Some(on) = proxy_protocol_v2 {
            group.proxy_protocol_v2 = on;
        }
        if let Some(delay) = deregistration_delay {
            group.deregistration_delay = delay;
        }
        Ok(())
    }

    /// CreateListener (TCP): one port of one load balancer, forwarding to a target group of
    /// the same VPC.
    pub fn create_listener(&mut self, lb: &str, port: u16, group: &str) -> Result<Listener> {
        let balancer = self.load_balancer(lb)?.clone();
        if self.target_group(group)?.vpc != balancer.vpc {
            return Err(elb_error(
                "ValidationError",
                "The target group and the load balancer must be in the same VPC",
            ));
        }
        if self
            .listeners
            .values()
            .any(|l| l.load_balancer == lb && l.port == port)
        {
            return Err(elb_error(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        let rest = balancer
            .arn
            .split_once(":loadbalancer/")
            .map(|(_, r)| r)
            .unwrap_or_default();
        let listener = Listener {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:{}:listener/{rest}/{}",
                self.region,
                self.account,
                elb_id()
            ),
            load_balancer: lb.to_string(),
            port,
            target_group: group.to_string(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        };
        self.listeners
            .insert(listener.arn.clone(), listener.clone());
        Ok(listener)
    }

    /// ModifyListenerAttributes: `tcp.idle_timeout.seconds`, 60 to 6000 as in ELB.
    pub fn set_idle_timeout(&mut self, arn: &str, seconds: u32) -> Result<()> {
        if !(60..=6000).contains(&seconds) {
            return Err(elb_error(
                "ValidationError",
                format!(
                    "The value of tcp.idle_timeout.seconds must be between 60 and 6000, got {seconds}"
                ),
            ));
        }
        let listener = self
            .listeners
            .get_mut(arn)
            .ok_or_else(|| elb_error("ListenerNotFound", format!("Listener '{arn}' not found")))?;
        listener.idle_timeout = seconds;
        Ok(())
    }

    pub fn delete_listener(&mut self, arn: &str) -> Result<()> {
        if self.listeners.remove(arn).is_none() {
            return Err(elb_error(
                "ListenerNotFound",
                format!("Listener '{arn}' not found"),
            ));
        }
        Ok(())
    }
}

/// One address and port a load balancer listens on, with where it forwards: a load
/// balancer's own address, or the network interface of an interface endpoint to an endpoint
/// service, which forwards through the service's load balancer in its zone.
#[derive(Debug, Clone)]
pub struct BalancerListener {
    pub addr: SocketAddr,
    pub zone: String,
    pub load_balancer: String,
    pub target_group: String,
    /// Every registered target with the zone of the subnet it lies in (`None` outside every
    /// subnet of the VPC: an on-premises target).
    pub targets: Vec<(SocketAddr, Option<String>)>,
    pub cross_zone: bool,
    pub proxy_protocol_v2: bool,
    pub health: HealthCheck,
    /// The load balancer's address in this zone: the source its targets see.
    pub node: IpAddr,
    /// On an endpoint's network interface: the endpoint (its id goes in the Proxy Protocol
    /// header's AWS TLV) and what guards the interface (security groups, routes).
    pub endpoint: Option<Arc<InterfaceListener>>,
    /// Seconds a deregistered target keeps its open connections (`deregistration_delay`).
    pub deregistration_delay: u32,
    /// Seconds a flow may stay silent both ways before it is closed.
    pub idle_timeout: u32,
}

/// Where one address of a listener forwards, from what [`forwarding`] found.
fn listener_at(
    addr: SocketAddr,
    zone: &str,
    found: (&LoadBalancer, &TargetGroup, ZonedTargets),
    listener: &Listener,
    node: IpAddr,
    endpoint: Option<Arc<InterfaceListener>>,
) -> BalancerListener {
    let (lb, group, targets) = found;
    BalancerListener {
        addr,
        zone: zone.to_string(),
        load_balancer: lb.arn.clone(),
        target_group: group.arn.clone(),
        targets,
        cross_zone: lb.cross_zone,
        proxy_protocol_v2: group.proxy_protocol_v2,
        health: group.health.clone(),
        node,
        endpoint,
        deregistration_delay: group.deregistration_delay,
        idle_timeout: listener.idle_timeout,
    }
}

/// Registered targets, each with the zone of the subnet it lies in.
type ZonedTargets = Vec<(SocketAddr, Option<String>)>;

/// Where one listener of a load balancer forwards: its target group and that group's
/// targets, each with its zone.
fn forwarding<'s>(
    state: &'s NetworkState,
    listener: &Listener,
) -> Option<(&'s LoadBalancer, &'s TargetGroup, ZonedTargets)> {
    let lb = state.load_balancers.get(&listener.load_balancer)?;
    let group = state.target_groups.get(&listener.target_group)?;
    let zone_of = |ip: IpAddr| {
        state
            .subnets
            .values()
            .filter(|s| {
                s.cidr
                    .parse::<ipnet::IpNet>()
                    .is_ok_and(|n| n.contains(&ip))
            })
            .map(|s| s.availability_zone.clone())
            .next()
    };
    let targets = group
        .targets
        .iter()
        .filter_map(|t| {
            let ip: IpAddr = t.ip.parse().ok()?;
            Some((SocketAddr::new(ip, t.port), zone_of(ip)))
        })
        .collect();
    Some((lb, group, targets))
}

/// The listeners of every load balancer of one account and region.
pub(crate) fn compile(state: &NetworkState) -> Vec<BalancerListener> {
    let mut out = Vec::new();
    for listener in state.listeners.values() {
        let Some((lb, group, targets)) = forwarding(state, listener) else {
            continue;
        };
        for eni in &lb.interfaces {
            let Ok(ip) = eni.ip.parse::<IpAddr>() else {
                continue;
            };
            let found = (lb, group, targets.clone());
            let addr = SocketAddr::new(ip, listener.port);
            out.push(listener_at(
                addr,
                &eni.availability_zone,
                found,
                listener,
                ip,
                None,
            ));
        }
    }
    out
}

/// The listeners of an accepted endpoint to an endpoint service (provided from `provider`):
/// on each of its network interfaces, every listener port of the service's load balancer in
/// that interface's zone (the first of the service's balancers with a node there).
pub(crate) fn compile_endpoint(
    provider: &NetworkState,
    service: &EndpointService,
    guards: &[(NetworkInterface, Arc<InterfaceListener>)],
) -> Vec<BalancerListener> {
    let mut out = Vec::new();
    for (eni, guard) in guards {
        let Ok(ip) = eni.ip.parse::<IpAddr>() else {
            continue;
        };
        let node = service
            .load_balancers
            .iter()
            .filter_map(|arn| provider.load_balancers.get(arn))
            .find_map(|lb| {
                lb.interfaces
                    .iter()
                    .find(|i| i.availability_zone == eni.availability_zone)
                    .map(|i| (lb, i))
            });
        let Some((lb, lb_eni)) = node else {
            continue;
        };
        let Ok(node) = lb_eni.ip.parse::<IpAddr>() else {
            continue;
        };
        for listener in provider
            .listeners
            .values()
            .filter(|l| l.load_balancer == lb.arn)
        {
            let Some(found) = forwarding(provider, listener) else {
                continue;
            };
            out.push(listener_at(
                SocketAddr::new(ip, listener.port),
                &eni.availability_zone,
                found,
                listener,
                node,
                Some(Arc::clone(guard)),
            ));
        }
    }
    out
}
