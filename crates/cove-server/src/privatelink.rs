//! The EC2 actions of PrivateLink: endpoint services (provider side), their permissions and
//! connections with acceptance, connection notifications, and DescribeVpcEndpointServices,
//! which lists DynamoDB and every endpoint service the caller may see. EC2's XML and error
//! codes; each action authorized as `ec2:<Action>` by [`crate::ec2::ec2`]'s guard.

use cove_engine::Engine;
use cove_engine::network::{NetworkState, dynamodb_prefix_list, dynamodb_service};
use cove_engine::services::{
    ConnectionNotification, EndpointService, ServiceChange, Unsuccessful, visible,
};
use cove_query::{Params, Xml};

use crate::authz::Guard;
use crate::ec2::{
    Listening, endpoint_state, id_list, passes, required, selected, timestamp, write_dns_entries,
    write_tags,
};
use crate::error::Failure;

/// What one EC2 request brings to these actions.
pub(crate) struct Context<'a> {
    pub engine: &'a Engine,
    pub guard: &'a Guard<'a>,
    pub region: &'a str,
    pub account: &'a str,
    /// Authorizes the action on a resource ARN (and answers `DryRun`).
    pub authorize: &'a dyn Fn(&str) -> Result<(), Failure>,
    pub listening: &'a dyn Fn() -> Listening,
}

impl Context<'_> {
    fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.region, self.account)
    }
}

fn bool_param(params: &Params, name: &str) -> Result<Option<bool>, Failure> {
    match params.get(name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Failure::Ec2Input(
            "InvalidParameterValue",
            format!(
                "Value ({other}) for parameter {name} is invalid. Expected: 'true' or 'false'."
            ),
        )),
    }
}

fn write_unsuccessful(x: &mut Xml, refused: &Unsuccessful) {
    x.open("unsuccessful");
    for (id, code, message) in refused {
        x.open("item")
            .open("error")
            .leaf("code", code)
            .leaf("message", message)
            .close("error")
            .leaf("resourceId", id)
            .close("item");
    }
    x.close("unsuccessful");
}

fn write_list(x: &mut Xml, tag: &str, items: &[String]) {
    x.open(tag);
    for item in items {
        x.leaf("item", item);
    }
    x.close(tag);
}

fn write_service_type(x: &mut Xml, kinds: &[&str]) {
    x.open("serviceType");
    for kind in kinds {
        x.open("item").leaf("serviceType", kind).close("item");
    }
    x.close("serviceType");
}

/// A `serviceConfiguration` (or an `item` of `serviceConfigurationSet`).
fn write_configuration(x: &mut Xml, tag: &str, state: &NetworkState, svc: &EndpointService) {
    x.open(tag);
    write_service_type(x, &["Interface"]);
    x.leaf("serviceId", &svc.id)
        .leaf("serviceName", &svc.name)
        .leaf("serviceState", "Available");
    write_list(x, "availabilityZoneSet", &state.service_zones(svc));
    x.leaf("acceptanceRequired", &svc.acceptance_required.to_string())
        .leaf("managesVpcEndpoints", "false");
    write_list(x, "networkLoadBalancerArnSet", &svc.load_balancers);
    write_list(x, "supportedIpAddressTypeSet", &["ipv4".to_string()]);
    write_list(
        x,
        "baseEndpointDnsNameSet",
        &[svc.base_dns_name(&state.region)],
    );
    if let Some(name) = &svc.private_dns_name {
        // Cove does not check domain ownership: the name counts as verified.
        x.leaf("privateDnsName", name)
            .open("privateDnsNameConfiguration")
            .leaf("state", "verified")
            .leaf("type", "TXT")
            .leaf("value", &format!("vpce:{}", &svc.id[9..]))
            .leaf("name", &format!("_{}", &svc.id[9..]))
            .close("privateDnsNameConfiguration");
    }
    x.leaf("payerResponsibility", "ServiceOwner");
    write_tags(x, &svc.tags);
    x.close(tag);
}

fn write_notification(x: &mut Xml, tag: &str, region: &str, n: &ConnectionNotification) {
    x.open(tag).leaf("connectionNotificationId", &n.id);
    if let Some(id) = &n.service {
        x.leaf("serviceId", id);
    }
    if let Some(id) = &n.endpoint {
        x.leaf("vpcEndpointId", id);
    }
    x.leaf("connectionNotificationType", "Topic")
        .leaf("connectionNotificationArn", &n.topic_arn);
    write_list(x, "connectionEvents", &n.events);
    x.leaf("connectionNotificationState", "Enabled")
        .leaf("serviceRegion", region)
        .close(tag);
}

/// DescribeVpcEndpointServices: DynamoDB (gateway and interface) and every endpoint service
/// of this region the caller may see, optionally only those named.
fn describe_services(ctx: &Context<'_>, params: &Params, x: &mut Xml) -> Result<(), Failure> {
    let region = ctx.region;
    let principal = ctx.guard.principal().principal_arn().to_string();
    let dynamodb = dynamodb_service(region);
    let mut services: Vec<(String, EndpointService, Vec<String>)> =
        ctx.engine.network_region_read(region, |r| {
            r.all_services()
                .into_iter()
                .filter(|(owner, svc, _)| visible(owner, svc, ctx.account, &principal))
                .collect()
        });
    services.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let wanted = params.indexed("ServiceName");
    for name in &wanted {
        if *name != dynamodb && !services.iter().any(|(_, s, _)| s.name == *name) {
            return Err(Failure::Ec2Input(
                "InvalidServiceName",
                format!("The Vpc Endpoint Service '{name}' does not exist"),
            ));
        }
    }
    let filters = params.filters();
    let chosen = |name: &str, owner: &str, kinds: &[&str]| {
        let mut attrs = vec![
            ("service-name", name.to_string()),
            ("owner", owner.to_string()),
            ("service-region", region.to_string()),
        ];
        attrs.extend(kinds.iter().map(|k| ("service-type", k.to_string())));
        (wanted.is_empty() || wanted.contains(&name)) && passes(&filters, &attrs, &Vec::new())
    };
    // DynamoDB offers both kinds of endpoint, so either service-type filter finds it.
    let show_dynamodb = chosen(&dynamodb, "amazon", &["Gateway", "Interface"]);
    let shown: Vec<&(String, EndpointService, Vec<String>)> = services
        .iter()
        .filter(|(owner, svc, _)| chosen(&svc.name, owner, &["Interface"]))
        .collect();
    x.open("serviceNameSet");
    if show_dynamodb {
        x.leaf("item", &dynamodb);
    }
    for (_, svc, _) in &shown {
        x.leaf("item", &svc.name);
    }
    x.close("serviceNameSet").open("serviceDetailSet");
    if show_dynamodb {
        x.open("item").leaf("serviceName", &dynamodb).leaf(
            "serviceId",
            &format!("vpce-svc-{}", &dynamodb_prefix_list(region)[3..]),
        );
        write_service_type(x, &["Gateway", "Interface"]);
        let zones: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|z| format!("{region}{z}"))
            .collect();
        write_list(x, "availabilityZoneSet", &zones);
        x.leaf("owner", "amazon");
        write_list(
            x,
            "baseEndpointDnsNameSet",
            &[format!("dynamodb.{region}.vpce.amazonaws.com")],
        );
        x.leaf("vpcEndpointPolicySupported", "true")
            .leaf("acceptanceRequired", "false")
            .leaf("managesVpcEndpoints", "false");
        write_list(x, "supportedIpAddressTypeSet", &["ipv4".to_string()]);
        x.close("item");
    }
    for (owner, svc, zones) in shown {
        x.open("item")
            .leaf("serviceName", &svc.name)
            .leaf("serviceId", &svc.id);
        write_service_type(x, &["Interface"]);
        x.leaf("serviceRegion", region);
        write_list(x, "availabilityZoneSet", zones);
        x.leaf("owner", owner);
        write_list(x, "baseEndpointDnsNameSet", &[svc.base_dns_name(region)]);
        if let Some(name) = &svc.private_dns_name {
            x.leaf("privateDnsName", name)
                .open("privateDnsNameSet")
                .open("item")
                .leaf("privateDnsName", name)
                .close("item")
                .close("privateDnsNameSet")
                .leaf("privateDnsNameVerificationState", "verified");
        }
        x.leaf("vpcEndpointPolicySupported", "false")
            .leaf("acceptanceRequired", &svc.acceptance_required.to_string())
            .leaf("managesVpcEndpoints", "false")
            .leaf("payerResponsibility", "ServiceOwner");
        write_list(x, "supportedIpAddressTypeSet", &["ipv4".to_string()]);
        write_tags(x, &svc.tags);
        x.close("item");
    }
    x.close("serviceDetailSet");
    Ok(())
}

/// The PrivateLink actions; any other action is not EC2's (or not Cove's).
pub(crate) fn ec2(
    ctx: &Context<'_>,
    action: &str,
    params: &Params,
    x: &mut Xml,
) -> Result<(), Failure> {
    let (engine, region, account) = (ctx.engine, ctx.region, ctx.account);
    let authorize = ctx.authorize;
    let filters = params.filters();
    match action {
        "DescribeVpcEndpointServices" => {
            authorize("*")?;
            describe_services(ctx, params, x)?;
        }
        "CreateVpcEndpointServiceConfiguration" => {
            authorize(&ctx.arn("vpc-endpoint-service", "*"))?;
            if !params.indexed("GatewayLoadBalancerArn").is_empty() {
                return Err(Failure::Ec2Input(
                    "InvalidParameter",
                    "Cove's endpoint services are backed by network load balancers; GatewayLoadBalancerArns are not supported".into(),
                ));
            }
            let change = ServiceChange {
                acceptance_required: bool_param(params, "AcceptanceRequired")?,
                private_dns_name: params.get("PrivateDnsName").map(str::to_string),
                add_load_balancers: id_list(params, "NetworkLoadBalancerArn"),
                ..ServiceChange::default()
            };
            let tags = params.tag_specification("vpc-endpoint-service");
            let svc = engine
                .network_region_update(region, |r| r.create_service(account, &change, tags))?;
            engine.network_read(account, region, |s| {
                write_configuration(x, "serviceConfiguration", s, &svc)
            });
        }
        "DescribeVpcEndpointServiceConfigurations" => {
            authorize("*")?;
            let ids = params.indexed("ServiceId");
            engine.network_read(account, region, |s| -> Result<(), Failure> {
                x.open("serviceConfigurationSet");
                for svc in selected(
                    &ids,
                    &s.endpoint_services,
                    (
                        "InvalidVpcEndpointServiceId.NotFound",
                        "Vpc Endpoint Service",
                    ),
                )? {
                    let attrs = [
                        ("service-name", svc.name.clone()),
                        ("service-id", svc.id.clone()),
                        ("service-state", "Available".into()),
                        ("supported-ip-address-types", "ipv4".into()),
                    ];
                    if passes(&filters, &attrs, &svc.tags) {
                        write_configuration(x, "item", s, svc);
                    }
                }
                x.close("serviceConfigurationSet");
                Ok(())
            })?;
        }
        "ModifyVpcEndpointServiceConfiguration" => {
            let id = required(params, "ServiceId")?;
            authorize(&ctx.arn("vpc-endpoint-service", id))?;
            let change = ServiceChange {
                acceptance_required: bool_param(params, "AcceptanceRequired")?,
                private_dns_name: params.get("PrivateDnsName").map(str::to_string),
                remove_private_dns_name: bool_param(params, "RemovePrivateDnsName")?
                    .unwrap_or(false),
                add_load_balancers: id_list(params, "AddNetworkLoadBalancerArn"),
                remove_load_balancers: id_list(params, "RemoveNetworkLoadBalancerArn"),
            };
            engine.network_region_update(region, |r| r.modify_service(account, id, &change))?;
            x.leaf("return", "true");
        }
        "DeleteVpcEndpointServiceConfigurations" => {
            let ids = params.indexed("ServiceId");
            if ids.is_empty() {
                required(params, "ServiceId.1")?;
            }
            authorize(&ctx.arn("vpc-endpoint-service", "*"))?;
            let refused =
                engine.network_region_update(region, |r| Ok(r.delete_services(account, &ids)))?;
            write_unsuccessful(x, &refused);
        }
        "ModifyVpcEndpointServicePermissions" => {
            let id = required(params, "ServiceId")?;
            authorize(&ctx.arn("vpc-endpoint-service", id))?;
            let add = id_list(params, "AddAllowedPrincipals");
            let remove = id_list(params, "RemoveAllowedPrincipals");
            let added = engine.network_region_update(region, |r| {
                r.change_permissions(account, id, &add, &remove)
            })?;
            x.open("addedPrincipalSet");
            for p in &added {
                x.open("item")
                    .leaf("principalType", p.principal_type())
                    .leaf("principal", &p.principal)
                    .leaf("servicePermissionId", &p.id)
                    .leaf("serviceId", id)
                    .close("item");
            }
            x.close("addedPrincipalSet").leaf("return", "true");
        }
        "DescribeVpcEndpointServicePermissions" => {
            let id = required(params, "ServiceId")?;
            authorize(&ctx.arn("vpc-endpoint-service", id))?;
            engine.network_read(account, region, |s| -> Result<(), Failure> {
                let svc = s.endpoint_services.get(id).ok_or_else(|| {
                    Failure::Ec2Input(
                        "InvalidVpcEndpointServiceId.NotFound",
                        format!("The Vpc Endpoint Service Id '{id}' does not exist"),
                    )
                })?;
                x.open("allowedPrincipals");
                for p in &svc.permissions {
                    let attrs = [
                        ("principal", p.principal.clone()),
                        ("principal-type", p.principal_type().to_string()),
                    ];
                    if passes(&filters, &attrs, &Vec::new()) {
                        x.open("item")
                            .leaf("principalType", p.principal_type())
                            .leaf("principal", &p.principal)
                            .leaf("servicePermissionId", &p.id)
                            .leaf("serviceId", id)
                            .close("item");
                    }
                }
                x.close("allowedPrincipals");
                Ok(())
            })?;
        }
        "AcceptVpcEndpointConnections" | "RejectVpcEndpointConnections" => {
            let id = required(params, "ServiceId")?;
            let endpoints = params.indexed("VpcEndpointId");
            if endpoints.is_empty() {
                required(params, "VpcEndpointId.1")?;
            }
            authorize(&ctx.arn("vpc-endpoint-service", id))?;
            let accept = action == "AcceptVpcEndpointConnections";
            let refused = engine.network_region_update(region, |r| {
                r.answer_connections(account, id, &endpoints, accept)
            })?;
            write_unsuccessful(x, &refused);
        }
        "DescribeVpcEndpointConnections" => {
            authorize("*")?;
            let listening = (ctx.listening)();
            let connections = engine.network_region_read(region, |r| r.connections(account));
            x.open("vpcEndpointConnectionSet");
            for c in &connections {
                let (state, _) = endpoint_state(&c.endpoint, &listening);
                let attrs = [
                    ("service-id", c.service_id.clone()),
                    ("vpc-endpoint-owner", c.owner.clone()),
                    ("vpc-endpoint-state", state.to_string()),
                    ("vpc-endpoint-id", c.endpoint.id.clone()),
                    ("ip-address-type", "ipv4".into()),
                    ("vpc-endpoint-region", region.to_string()),
                ];
                if !passes(&filters, &attrs, &c.endpoint.tags) {
                    continue;
                }
                x.open("item")
                    .leaf("serviceId", &c.service_id)
                    .leaf("vpcEndpointId", &c.endpoint.id)
                    .leaf("vpcEndpointOwner", &c.owner)
                    .leaf("vpcEndpointState", state)
                    .leaf("creationTimestamp", &timestamp(c.endpoint.created));
                write_dns_entries(x, &c.endpoint, region);
                write_list(x, "networkLoadBalancerArnSet", &c.load_balancers);
                x.leaf("ipAddressType", "ipv4")
                    .leaf(
                        "vpcEndpointConnectionId",
                        &format!("vpce-con-{}", &c.endpoint.id[5..]),
                    )
                    .leaf("vpcEndpointRegion", region);
                write_tags(x, &c.endpoint.tags);
                x.close("item");
            }
            x.close("vpcEndpointConnectionSet");
        }
        "CreateVpcEndpointConnectionNotification" => {
            let topic = required(params, "ConnectionNotificationArn")?;
            let events = id_list(params, "ConnectionEvents");
            let (service, endpoint) = (params.get("ServiceId"), params.get("VpcEndpointId"));
            let resource = match (service, endpoint) {
                (Some(id), _) => ctx.arn("vpc-endpoint-service", id),
                (None, Some(id)) => ctx.arn("vpc-endpoint", id),
                (None, None) => "*".to_string(),
            };
            authorize(&resource)?;
            let n = engine.network_region_update(region, |r| {
                r.create_notification(account, service, endpoint, topic, &events)
            })?;
            write_notification(x, "connectionNotification", region, &n);
        }
        "DescribeVpcEndpointConnectionNotifications" => {
            authorize("*")?;
            let wanted = params.get("ConnectionNotificationId");
            engine.network_read(account, region, |s| -> Result<(), Failure> {
                if let Some(id) = wanted
                    && !s.connection_notifications.contains_key(id)
                {
                    return Err(Failure::Ec2Input(
                        "InvalidConnectionNotification",
                        format!("The connection notification '{id}' does not exist"),
                    ));
                }
                x.open("connectionNotificationSet");
                for n in s.connection_notifications.values() {
                    if wanted.is_some_and(|w| w != n.id) {
                        continue;
                    }
                    let attrs = [
                        ("connection-notification-arn", n.topic_arn.clone()),
                        ("connection-notification-id", n.id.clone()),
                        ("connection-notification-state", "Enabled".into()),
                        ("connection-notification-type", "Topic".into()),
                        ("service-id", n.service.clone().unwrap_or_default()),
                        ("vpc-endpoint-id", n.endpoint.clone().unwrap_or_default()),
                    ];
                    if passes(&filters, &attrs, &Vec::new()) {
                        write_notification(x, "item", region, n);
                    }
                }
                x.close("connectionNotificationSet");
                Ok(())
            })?;
        }
        "ModifyVpcEndpointConnectionNotification" => {
            let id = required(params, "ConnectionNotificationId")?;
            authorize("*")?;
            let events = id_list(params, "ConnectionEvents");
            let topic = params.get("ConnectionNotificationArn");
            let events = (!events.is_empty()).then_some(events);
            engine.network_region_update(region, |r| {
                r.modify_notification(account, id, topic, events.as_deref())
            })?;
            x.leaf("return", "true");
        }
        "DeleteVpcEndpointConnectionNotifications" => {
            let ids = params.indexed("ConnectionNotificationId");
            if ids.is_empty() {
                required(params, "ConnectionNotificationId.1")?;
            }
            authorize("*")?;
            let refused = engine
                .network_region_update(region, |r| Ok(r.delete_notifications(account, &ids)))?;
            write_unsuccessful(x, &refused);
        }
        _ => return Err(Failure::InvalidAction(action.to_string())),
    }
    Ok(())
}
