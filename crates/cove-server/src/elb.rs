//! The Elastic Load Balancing v2 Query API subset for network load balancers (`aws elbv2 …`):
//! load balancers, target groups with health checks and attributes, targets and their
//! health, and TCP listeners, with ELB's XML (`…Result` wrappers, `member` lists) and error
//! codes. Each action is authorized as `elasticloadbalancing:<Action>`.

use cove_engine::Engine;
use cove_engine::balancer::{HealthCheck, LoadBalancer, TargetGroup, TargetGroupRequest};
use cove_engine::network::{NetworkState, Tags};
use cove_query::{Params, Xml};

use crate::authz::{Guard, Keys};
use crate::balance::{Health, TargetStates};
use crate::error::Failure;

pub const ELB_NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
pub const ELB_VERSION: &str = "2015-12-01";

fn invalid(message: impl Into<String>) -> Failure {
    Failure::Engine(cove_engine::EngineError::Elb(
        "ValidationError",
        message.into(),
    ))
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, Failure> {
    params.get(name).ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn number<T: std::str::FromStr>(params: &Params, name: &str) -> Result<Option<T>, Failure> {
    params
        .get(name)
        .map(|v| {
            v.parse()
                .map_err(|_| invalid(format!("'{v}' is not a valid value for {name}")))
        })
        .transpose()
}

fn timestamp(epoch: i64) -> String {
    let iso = cove_query::iso8601(epoch);
    format!("{}.000Z", iso.trim_end_matches('Z'))
}

fn tags(params: &Params) -> Tags {
    params
        .structs("Tags")
        .into_iter()
        .filter_map(|t| Some((t.get("Key")?.to_string(), t.get("Value")?.to_string())))
        .collect()
}

/// A load balancer's state: `active` once Cove listens on every address and port of it,
/// `provisioning` until then, `failed` (with the reason) when one cannot be listened on.
fn balancer_state(lb: &LoadBalancer, shared: &crate::Shared) -> (&'static str, Option<String>) {
    let view = shared.engine.network_view();
    let status = shared
        .balancer_status
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut code = "active";
    for b in view
        .balancers
        .iter()
        .filter(|b| b.load_balancer == lb.arn && b.endpoint.is_none())
    {
        match status.get(&b.addr) {
            None => code = "provisioning",
            Some(None) => {}
            Some(Some(reason)) => return ("failed", Some(reason.clone())),
        }
    }
    (code, None)
}

fn write_load_balancer(
    x: &mut Xml,
    state: &NetworkState,
    lb: &LoadBalancer,
    shared: &crate::Shared,
) {
    let (code, reason) = balancer_state(lb, shared);
    x.open("member")
        .leaf("LoadBalancerArn", &lb.arn)
        .leaf("DNSName", &lb.dns_name(&state.region))
        .leaf("CanonicalHostedZoneId", "Z26RNL4JYFTOTI")
        .leaf("CreatedTime", &timestamp(lb.created))
        .leaf("LoadBalancerName", &lb.name)
        .leaf("Scheme", &lb.scheme)
        .leaf("VpcId", &lb.vpc)
        .open("State")
        .leaf("Code", code);
    if let Some(reason) = &reason {
        x.leaf("Reason", reason);
    }
    x.close("State")
        .leaf("Type", "network")
        .open("AvailabilityZones");
    for eni in &lb.interfaces {
        x.open("member")
            .leaf("ZoneName", &eni.availability_zone)
            .leaf("SubnetId", &eni.subnet)
            .open("LoadBalancerAddresses")
            .open("member")
            .leaf("PrivateIPv4Address", &eni.ip)
            .close("member")
            .close("LoadBalancerAddresses")
            .close("member");
    }
    x.close("AvailabilityZones")
        .leaf("IpAddressType", "ipv4")
        .close("member");
}

fn write_target_group(x: &mut Xml, state: &NetworkState, g: &TargetGroup) {
    let h = &g.health;
    x.open("member")
        .leaf("TargetGroupArn", &g.arn)
        .leaf("TargetGroupName", &g.name)
        .leaf("Protocol", "TCP")
        .leaf("Port", &g.port.to_string())
        .leaf("VpcId", &g.vpc)
        .leaf("HealthCheckProtocol", &h.protocol)
        .leaf("HealthCheckPort", &h.port)
        .leaf("HealthCheckEnabled", "true")
        .leaf(
            "HealthCheckIntervalSeconds",
            &h.interval_seconds.to_string(),
        )
        .leaf("HealthCheckTimeoutSeconds", &h.timeout_seconds.to_string())
        .leaf("HealthyThresholdCount", &h.healthy_threshold.to_string())
        .leaf(
            "UnhealthyThresholdCount",
            &h.unhealthy_threshold.to_string(),
        );
    if h.protocol == "HTTP" {
        x.leaf("HealthCheckPath", &h.path)
            .open("Matcher")
            .leaf("HttpCode", &h.matcher)
            .close("Matcher");
    }
    x.open("LoadBalancerArns");
    for l in state.listeners.values().filter(|l| l.target_group == g.arn) {
        x.leaf("member", &l.load_balancer);
    }
    x.close("LoadBalancerArns")
        .leaf("TargetType", "ip")
        .leaf("IpAddressType", "ipv4")
        .close("member");
}

fn write_attributes(x: &mut Xml, attributes: &[(&str, String)]) {
    x.open("Attributes");
    for (key, value) in attributes {
        x.open("member")
            .leaf("Key", key)
            .leaf("Value", value)
            .close("member");
    }
    x.close("Attributes");
}

fn bool_attribute(key: &str, value: &str) -> Result<bool, Failure> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(format!(
            "The value of '{key}' must be 'true' or 'false'"
        ))),
    }
}

fn health_check(params: &Params) -> Result<HealthCheck, Failure> {
    let protocol = params
        .get("HealthCheckProtocol")
        .unwrap_or("TCP")
        .to_ascii_uppercase();
    if protocol != "TCP" && protocol != "HTTP" {
        return Err(invalid(format!(
            "Health check protocol '{protocol}' is not supported; use TCP or HTTP"
        )));
    }
    Ok(HealthCheck {
        port: params
            .get("HealthCheckPort")
            .unwrap_or("traffic-port")
            .to_string(),
        path: params.get("HealthCheckPath").unwrap_or("/").to_string(),
        interval_seconds: number(params, "HealthCheckIntervalSeconds")?.unwrap_or(30),
        timeout_seconds: number(params, "HealthCheckTimeoutSeconds")?.unwrap_or(10),
        healthy_threshold: number(params, "HealthyThresholdCount")?.unwrap_or(5),
        unhealthy_threshold: number(params, "UnhealthyThresholdCount")?.unwrap_or(2),
        matcher: params
            .get("Matcher.HttpCode")
            .unwrap_or("200-399")
            .to_string(),
        protocol,
    })
}

/// Runs one ELB action in the caller's account and the region it signed for; returns the
/// `…Result` element's members.
pub fn elb(
    engine: &Engine,
    guard: &Guard<'_>,
    region: &str,
    shared: &crate::Shared,
    action: &str,
    params: &Params,
) -> Result<Option<String>, Failure> {
    let health: &TargetStates = &shared.target_states;
    let account = guard.principal().account.clone();
    let authorize = |resource: &str| {
        guard.check(
            &format!("elasticloadbalancing:{action}"),
            resource,
            &account,
            Keys::new(),
        )
    };
    let all = format!("arn:aws:elasticloadbalancing:{region}:{account}:*");
    let mut x = Xml::new();
    match action {
        "CreateLoadBalancer" => {
            let name = required(params, "Name")?;
            authorize(&all)?;
            match params.get("Type").unwrap_or("application") {
                "network" => {}
                other => {
                    return Err(invalid(format!(
                        "Cove's load balancers are network load balancers; type '{other}' is not supported"
                    )));
                }
            }
            let subnets: Vec<String> = params
                .list("Subnets")
                .into_iter()
                .map(str::to_string)
                .chain(
                    params
                        .structs("SubnetMappings")
                        .into_iter()
                        .filter_map(|m| m.get("SubnetId").map(|s| s.to_string())),
                )
                .collect();
            let scheme = params.get("Scheme").unwrap_or("internet-facing");
            let tags = tags(params);
            let lb = engine.network_update(&account, region, |s| {
                s.create_load_balancer(name, &subnets, scheme, tags)
            })?;
            engine.network_read(&account, region, |s| {
                x.open("LoadBalancers");
                write_load_balancer(&mut x, s, &lb, shared);
                x.close("LoadBalancers");
            });
        }
        "DescribeLoadBalancers" => {
            authorize(&all)?;
            let arns = params.list("LoadBalancerArns");
            let names = params.list("Names");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                for arn in &arns {
                    s.load_balancer(arn)?;
                }
                // ELB refuses a name it does not know rather than leaving it out.
                if let Some(name) = names
                    .iter()
                    .find(|n| !s.load_balancers.values().any(|lb| lb.name == **n))
                {
                    return Err(Failure::Engine(cove_engine::EngineError::Elb(
                        "LoadBalancerNotFound",
                        format!("Load balancers '[{name}]' not found"),
                    )));
                }
                x.open("LoadBalancers");
                for lb in s.load_balancers.values() {
                    if (arns.is_empty() || arns.contains(&lb.arn.as_str()))
                        && (names.is_empty() || names.contains(&lb.name.as_str()))
                    {
                        write_load_balancer(&mut x, s, lb, shared);
                    }
                }
                x.close("LoadBalancers");
                Ok(())
            })?;
        }
        "DeleteLoadBalancer" => {
            let arn = required(params, "LoadBalancerArn")?;
            authorize(arn)?;
            engine.network_update(&account, region, |s| s.delete_load_balancer(arn))?;
        }
        "ModifyLoadBalancerAttributes" | "DescribeLoadBalancerAttributes" => {
            let arn = required(params, "LoadBalancerArn")?;
            authorize(arn)?;
            for attribute in params.structs("Attributes") {
                let (Some(key), Some(value)) = (attribute.get("Key"), attribute.get("Value"))
                else {
                    continue;
                };
                match *key {
                    "load_balancing.cross_zone.enabled" => {
                        let on = bool_attribute(key, value)?;
                        engine.network_update(&account, region, |s| s.set_cross_zone(arn, on))?;
                    }
                    other => {
                        return Err(invalid(format!(
                            "Load balancer attribute key '{other}' is not recognized"
                        )));
                    }
                }
            }
            let cross_zone = engine.network_read(&account, region, |s| {
                s.load_balancer(arn).map(|lb| lb.cross_zone)
            })?;
            write_attributes(
                &mut x,
                &[
                    ("load_balancing.cross_zone.enabled", cross_zone.to_string()),
                    ("deletion_protection.enabled", "false".into()),
                ],
            );
        }
        "CreateTargetGroup" => {
            let name = required(params, "Name")?;
            authorize(&all)?;
            let protocol = params.get("Protocol").unwrap_or("TCP");
            if protocol != "TCP" {
                return Err(invalid(format!(
                    "Cove's target groups carry TCP; protocol '{protocol}' is not supported"
                )));
            }
            if params.get("TargetType").is_some_and(|t| t != "ip") {
                return Err(invalid(
                    "Cove's target groups hold IP targets; use --target-type ip",
                ));
            }
            let port = number::<u16>(params, "Port")?
                .ok_or_else(|| invalid("A port must be specified"))?;
            let vpc = required(params, "VpcId")?.to_string();
            let request = TargetGroupRequest {
                name: name.to_string(),
                vpc,
                port,
                health: health_check(params)?,
                tags: tags(params),
            };
            let group =
                engine.network_update(&account, region, |s| s.create_target_group(request))?;
            engine.network_read(&account, region, |s| {
                x.open("TargetGroups");
                write_target_group(&mut x, s, &group);
                x.close("TargetGroups");
            });
        }
        "DescribeTargetGroups" => {
            authorize(&all)?;
            let arns = params.list("TargetGroupArns");
            let names = params.list("Names");
            let lb = params.get("LoadBalancerArn");
            engine.network_read(&account, region, |s| -> Result<(), Failure> {
                for arn in &arns {
                    s.target_group(arn)?;
                }
                // As for load balancers, a name ELB does not know is refused.
                if let Some(name) = names
                    .iter()
                    .find(|n| !s.target_groups.values().any(|g| g.name == **n))
                {
                    return Err(Failure::Engine(cove_engine::EngineError::Elb(
                        "TargetGroupNotFound",
                        format!("One or more target groups not found: '{name}'"),
                    )));
                }
                x.open("TargetGroups");
                for g in s.target_groups.values() {
                    let behind = lb.is_none_or(|lb| {
                        s.listeners
                            .values()
                            .any(|l| l.load_balancer == lb && l.target_group == g.arn)
                    });
                    if behind
                        && (arns.is_empty() || arns.contains(&g.arn.as_str()))
                        && (names.is_empty() || names.contains(&g.name.as_str()))
                    {
                        write_target_group(&mut x, s, g);
                    }
                }
                x.close("TargetGroups");
                Ok(())
            })?;
        }
        "DeleteTargetGroup" => {
            let arn = required(params, "TargetGroupArn")?;
            authorize(arn)?;
            engine.network_update(&account, region, |s| s.delete_target_group(arn))?;
        }
        "RegisterTargets" | "DeregisterTargets" => {
            let arn = required(params, "TargetGroupArn")?;
            authorize(arn)?;
            let mut targets = Vec::new();
            for t in params.structs("Targets") {
                let id = t
                    .get("Id")
                    .ok_or_else(|| invalid("A target must have an Id"))?;
                let port = t
                    .get("Port")
                    .map(|p| p.parse::<u16>().map_err(|_| invalid("Invalid target port")))
                    .transpose()?;
                targets.push((id.to_string(), port));
            }
            let register = action == "RegisterTargets";
            engine.network_update(&account, region, |s| {
                s.change_targets(arn, &targets, register)
            })?;
        }
        "DescribeTargetHealth" => {
            let arn = required(params, "TargetGroupArn")?;
            authorize(arn)?;
            let (group, in_use) = engine.network_read(&account, region, |s| {
                s.target_group(arn).map(|g| {
                    let used = s.listeners.values().any(|l| l.target_group == g.arn);
                    (g.clone(), used)
                })
            })?;
            x.open("TargetHealthDescriptions");
            // Registered targets, then deregistered ones still draining.
            let mut listed: Vec<(cove_engine::balancer::Target, Health)> = group
                .targets
                .iter()
                .map(|t| {
                    let state = if in_use {
                        health.get(arn, &t.ip, t.port)
                    } else {
                        Health::Unused
                    };
                    (t.clone(), state)
                })
                .collect();
            for addr in health.draining(arn) {
                let target = cove_engine::balancer::Target {
                    ip: addr.ip().to_string(),
                    port: addr.port(),
                };
                if !group.targets.contains(&target) {
                    listed.push((target, Health::Draining));
                }
            }
            for (t, state) in &listed {
                x.open("member")
                    .open("Target")
                    .leaf("Id", &t.ip)
                    .leaf("Port", &t.port.to_string())
                    .close("Target")
                    .leaf(
                        "HealthCheckPort",
                        &if group.health.port == "traffic-port" {
                            t.port.to_string()
                        } else {
                            group.health.port.clone()
                        },
                    )
                    .open("TargetHealth")
                    .leaf("State", state.state());
                if let Some((reason, description)) = state.reason() {
                    x.leaf("Reason", reason).leaf("Description", description);
                }
                x.close("TargetHealth").close("member");
            }
            x.close("TargetHealthDescriptions");
        }
        "ModifyTargetGroupAttributes" | "DescribeTargetGroupAttributes" => {
            let arn = required(params, "TargetGroupArn")?;
            authorize(arn)?;
            let mut proxy = None;
            let mut delay = None;
            for attribute in params.structs("Attributes") {
                let (Some(key), Some(value)) = (attribute.get("Key"), attribute.get("Value"))
                else {
                    continue;
                };
                match *key {
                    "proxy_protocol_v2.enabled" => proxy = Some(bool_attribute(key, value)?),
                    "deregistration_delay.timeout_seconds" => {
                        delay = Some(
                            value
                                .parse::<u32>()
                                .ok()
                                .filter(|d| *d <= 3600)
                                .ok_or_else(|| {
                                    invalid("deregistration_delay.timeout_seconds must be 0-3600")
                                })?,
                        );
                    }
                    other => {
                        return Err(invalid(format!(
                            "Target group attribute key '{other}' is not recognized"
                        )));
                    }
                }
            }
            if proxy.is_some() || delay.is_some() {
                engine.network_update(&account, region, |s| {
                    s.set_target_group_attributes(arn, proxy, delay)
                })?;
            }
            let group = engine.network_read(&account, region, |s| s.target_group(arn).cloned())?;
            write_attributes(
                &mut x,
                &[
                    (
                        "proxy_protocol_v2.enabled",
                        group.proxy_protocol_v2.to_string(),
                    ),
                    (
                        "deregistration_delay.timeout_seconds",
                        group.deregistration_delay.to_string(),
                    ),
                    ("preserve_client_ip.enabled", "true".into()),
                ],
            );
        }
        "CreateListener" => {
            let lb = required(params, "LoadBalancerArn")?;
            authorize(lb)?;
            let protocol = params.get("Protocol").unwrap_or("TCP");
            if protocol != "TCP" {
                return Err(invalid(format!(
                    "Cove's listeners carry TCP; protocol '{protocol}' is not supported"
                )));
            }
            let port = number::<u16>(params, "Port")?
                .ok_or_else(|| invalid("A port must be specified"))?;
            let actions = params.structs("DefaultActions");
            let group = match actions.as_slice() {
                [one] if one.get("Type") == Some(&"forward") => one
                    .get("TargetGroupArn")
                    .map(|s| s.to_string())
                    .ok_or_else(|| invalid("A forward action needs a target group"))?,
                _ => {
                    return Err(invalid(
                        "A listener of a network load balancer takes one forward action",
                    ));
                }
            };
            let listener =
                engine.network_update(&account, region, |s| s.create_listener(lb, port, &group))?;
            x.open("Listeners");
            write_listener(&mut x, &listener);
            x.close("Listeners");
        }
        "DescribeListeners" => {
            authorize(&all)?;
            let lb = params.get("LoadBalancerArn");
            let arns = params.list("ListenerArns");
            engine.network_read(&account, region, |s| {
                x.open("Listeners");
                for l in s.listeners.values() {
                    if lb.is_none_or(|lb| l.load_balancer == lb)
                        && (arns.is_empty() || arns.contains(&l.arn.as_str()))
                    {
                        write_listener(&mut x, l);
                    }
                }
                x.close("Listeners");
            });
        }
        "ModifyListenerAttributes" | "DescribeListenerAttributes" => {
            let arn = required(params, "ListenerArn")?;
            authorize(arn)?;
            for attribute in params.structs("Attributes") {
                let (Some(key), Some(value)) = (attribute.get("Key"), attribute.get("Value"))
                else {
                    continue;
                };
                match *key {
                    "tcp.idle_timeout.seconds" => {
                        let seconds = value.parse::<u32>().map_err(|_| {
                            invalid("tcp.idle_timeout.seconds must be a number of seconds")
                        })?;
                        engine.network_update(&account, region, |s| {
                            s.set_idle_timeout(arn, seconds)
                        })?;
                    }
                    other => {
                        return Err(invalid(format!(
                            "Listener attribute key '{other}' is not recognized"
                        )));
                    }
                }
            }
            let listener = engine.network_read(&account, region, |s| {
                s.listeners.get(arn).cloned().ok_or_else(|| {
                    Failure::Engine(cove_engine::EngineError::Elb(
                        "ListenerNotFound",
                        format!("Listener '{arn}' not found"),
                    ))
                })
            })?;
            write_attributes(
                &mut x,
                &[(
                    "tcp.idle_timeout.seconds",
                    listener.idle_timeout.to_string(),
                )],
            );
        }
        "DeleteListener" => {
            let arn = required(params, "ListenerArn")?;
            authorize(arn)?;
            engine.network_update(&account, region, |s| s.delete_listener(arn))?;
        }
        _ => return Err(Failure::InvalidAction(action.to_string())),
    }
    let body = x.finish();
    Ok(Some(body))
}

fn write_listener(x: &mut Xml, l: &cove_engine::balancer::Listener) {
    x.open("member")
        .leaf("ListenerArn", &l.arn)
        .leaf("LoadBalancerArn", &l.load_balancer)
        .leaf("Port", &l.port.to_string())
        .leaf("Protocol", "TCP")
        .open("DefaultActions")
        .open("member")
        .leaf("Type", "forward")
        .leaf("TargetGroupArn", &l.target_group)
        .close("member")
        .close("DefaultActions")
        .close("member");
}
