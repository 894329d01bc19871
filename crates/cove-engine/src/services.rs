//! PrivateLink for any TCP service: endpoint services (a provider's network load balancers
//! published under `com.amazonaws.vpce.<region>.vpce-svc-…`, with the principals allowed to
//! connect), the consumers' interface endpoints to them with the provider's acceptance, and
//! connection notifications. A provider and its consumers are different accounts, so these
//! operations work on every account's network record of one region at once ([`Region`]);
//! the events they cause become outbox records ([`Notice`]) in the same atomic write, which
//! the server delivers to the webhook configured for each topic.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use cove_storage::{KeyRange, ScanOptions, WriteBatch};

use crate::network::{InterfaceRequest, NetworkState, Tags, VpcEndpoint, ec2_error, new_id, now};
pub use crate::region::Region;
use crate::{Engine, EngineError, Result, keys};

/// The events a connection notification may ask for, in EC2's spelling.
pub const CONNECTION_EVENTS: [&str; 4] = ["Accept", "Connect", "Delete", "Reject"];

/// How many delivered notices the outbox keeps for `cove notifications`; older ones go.
const KEEP_DELIVERED: usize = 1000;

/// The endpoint service id in a PrivateLink service name
/// (`com.amazonaws.vpce.<region>.vpce-svc-…`).
pub fn service_id_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("com.amazonaws.vpce.")?;
    let (_, id) = rest.split_once('.')?;
    id.starts_with("vpce-svc-").then_some(id)
}

/// A principal allowed to connect to an endpoint service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServicePermission {
    /// `vpce-svc-perm-…`.
    pub id: String,
    /// `arn:aws:iam::<account>:root`, `…:user/…`, `…:role/…`, or `*`.
    pub principal: String,
}

impl ServicePermission {
    /// DescribeVpcEndpointServicePermissions' `PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        let resource = self.principal.splitn(6, ':').nth(5).unwrap_or_default();
        if self.principal == "*" {
            "All"
        } else if resource == "root" {
            "Account"
        } else if resource.starts_with("role/") {
            "Role"
        } else {
            "User"
        }
    }

    /// Whether this permission admits a caller of `account` whose principal ARN (the user's
    /// or role's ARN, or the account's root ARN) is `principal_arn`.
    fn admits(&self, account: &str, principal_arn: &str) -> bool {
        self.principal == "*"
            || self.principal == principal_arn
            || self.principal == format!("arn:aws:iam::{account}:root")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointService {
    /// `vpce-svc-` and 17 hex digits.
    pub id: String,
    /// `com.amazonaws.vpce.<region>.<id>`.
    pub name: String,
    /// The network load balancers behind it, by ARN (the provider's own).
    pub load_balancers: Vec<String>,
    pub acceptance_required: bool,
    pub private_dns_name: Option<String>,
    pub permissions: Vec<ServicePermission>,
    pub created: i64,
    #[serde(default)]
    pub tags: Tags,
}

impl EndpointService {
    /// `<id>.<region>.vpce.amazonaws.com`, the base of its endpoints' DNS names.
    pub fn base_dns_name(&self, region: &str) -> String {
        format!("{}.{region}.vpce.amazonaws.com", self.id)
    }
}

/// A connection notification: which events of one endpoint service (for its provider) or
/// one interface endpoint (for its consumer) go to which SNS topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectionNotification {
    /// `vpce-nfn-` and 17 hex digits.
    pub id: String,
    pub service: Option<String>,
    pub endpoint: Option<String>,
    pub topic_arn: String,
    pub events: Vec<String>,
}

/// One notification message in the outbox: written with the change that caused it, then
/// delivered (with retries) by the server to the webhook configured for its topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notice {
    /// Unique and time-ordered: the outbox key's suffix.
    pub id: String,
    pub topic_arn: String,
    pub notification_id: String,
    /// `Connect`, `Accept`, `Reject` or `Delete`.
    pub event: String,
    /// The message body (JSON text), as SNS would carry it in `Message`.
    pub message: String,
    pub created: i64,
    pub attempts: u32,
    /// When it was delivered; `None` while pending.
    pub delivered: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When delivery was given up (after the last retry), if it was.
    pub abandoned: Option<i64>,
}

pub(crate) fn outbox_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::OUTBOX];
    k.extend_from_slice(id.as_bytes());
    k
}

/// An endpoint's connection to an endpoint service, as its provider sees it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub service_id: String,
    pub owner: String,
    pub endpoint: VpcEndpoint,
    pub load_balancers: Vec<String>,
}

/// What a CreateVpcEndpointServiceConfiguration or ModifyVpcEndpointServiceConfiguration
/// asks for.
#[derive(Debug, Clone, Default)]
pub struct ServiceChange {
    pub acceptance_required: Option<bool>,
    pub private_dns_name: Option<String>,
    pub remove_private_dns_name: bool,
    pub add_load_balancers: Vec<String>,
    pub remove_load_balancers: Vec<String>,
}

/// A refused item of a batch call (DeleteVpcEndpointServiceConfigurations,
/// AcceptVpcEndpointConnections, …): the id with EC2's error code and message.
pub type Unsuccessful = Vec<(String, &'static str, String)>;

fn service_not_found(id: &str) -> EngineError {
    ec2_error(
        "InvalidVpcEndpointServiceId.NotFound",
        format!("The Vpc Endpoint Service Id '{id}' does not exist"),
    )
}

pub(crate) fn service_name_not_found(name: &str) -> EngineError {
    ec2_error(
        "InvalidServiceName",
        format!("The Vpc Endpoint Service '{name}' does not exist"),
    )
}

/// A principal as ModifyVpcEndpointServicePermissions takes it.
fn check_principal(principal: &str) -> Result<()> {
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let ok = principal == "*"
        || (parts.len() == 6
            && parts[0] == "arn"
            && parts[1] == "aws"
            && parts[2] == "iam"
            && parts[3].is_empty()
            && cove_policy::is_account_id(parts[4])
            && (parts[5] == "root"
                || parts[5]
                    .strip_prefix("user/")
                    .is_some_and(|n| !n.is_empty())
                || parts[5]
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty())));
    if ok {
        Ok(())
    } else {
        Err(ec2_error(
            "InvalidPrincipal",
            format!("Invalid Principal: '{principal}'"),
        ))
    }
}

impl Region<'_> {
    fn service_of(&mut self, account: &str, id: &str) -> Result<&mut EndpointService> {
        self.state(account)
            .endpoint_services
            .get_mut(id)
            .ok_or_else(|| service_not_found(id))
    }

    /// The service named `name` in this region, with its provider's account.
    pub fn find_service(&self, name: &str) -> Option<(String, EndpointService)> {
        self.states
            .iter()
            .filter(|((_, region), _)| region == self.region)
            .find_map(|((account, _), s)| {
                s.endpoint_services
                    .values()
                    .find(|svc| svc.name == name)
                    .map(|svc| (account.clone(), svc.clone()))
            })
    }

    /// Every endpoint service of this region: (provider, service, availability zones).
    pub fn all_services(&self) -> Vec<(String, EndpointService, Vec<String>)> {
        self.states
            .iter()
            .filter(|((_, region), _)| region == self.region)
            .flat_map(|((account, _), s)| {
                s.endpoint_services
                    .values()
                    .map(move |svc| (account.clone(), svc.clone(), s.service_zones(svc)))
            })
            .collect()
    }

    /// CreateVpcEndpointServiceConfiguration: a service over `account`'s own network load
    /// balancers, none of which may already back another service.
    pub fn create_service(
        &mut self,
        account: &str,
        change: &ServiceChange,
        tags: Tags,
    ) -> Result<EndpointService> {
        let region = self.region.to_string();
        let state = self.state(account);
        if change.add_load_balancers.is_empty() {
            return Err(ec2_error(
                "InvalidParameter",
                "Either NetworkLoadBalancerArns or GatewayLoadBalancerArns must be specified",
            ));
        }
        state.check_service_balancers(&change.add_load_balancers, None)?;
        let id = new_id("vpce-svc");
        let service = EndpointService {
            name: format!("com.amazonaws.vpce.{region}.{id}"),
            id,
            load_balancers: change.add_load_balancers.clone(),
            // EC2's API default; the console's is true.
            acceptance_required: change.acceptance_required.unwrap_or(true),
            private_dns_name: change.private_dns_name.clone(),
            permissions: Vec::new(),
            created: now(),
            tags,
        };
        state
            .endpoint_services
            .insert(service.id.clone(), service.clone());
        Ok(service)
    }

    /// ModifyVpcEndpointServiceConfiguration. Every change is checked before any is made.
    pub fn modify_service(
        &mut self,
        account: &str,
        id: &str,
        change: &ServiceChange,
    ) -> Result<()> {
        let state = self.state(account);
        let mut service = state
            .endpoint_services
            .get(id)
            .cloned()
            .ok_or_else(|| service_not_found(id))?;
        state.check_service_balancers(&change.add_load_balancers, Some(id))?;
        for arn in &change.add_load_balancers {
            if !service.load_balancers.contains(arn) {
                service.load_balancers.push(arn.clone());
            }
        }
        for arn in &change.remove_load_balancers {
            if !service.load_balancers.contains(arn) {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Load balancer {arn} is not associated with service {id}"),
                ));
            }
            service.load_balancers.retain(|a| a != arn);
        }
        if service.load_balancers.is_empty() {
            return Err(ec2_error(
                "InvalidParameter",
                "An endpoint service must have at least one load balancer",
            ));
        }
        if let Some(on) = change.acceptance_required {
            service.acceptance_required = on;
        }
        if change.remove_private_dns_name {
            service.private_dns_name = None;
        } else if let Some(name) = &change.private_dns_name {
            service.private_dns_name = Some(name.clone());
        }
        state.endpoint_services.insert(id.to_string(), service);
        Ok(())
    }

    /// DeleteVpcEndpointServiceConfigurations: a service with endpoints connected (or asking
    /// to be) stays, as in EC2; the refused ids are returned.
    pub fn delete_services(&mut self, account: &str, ids: &[&str]) -> Unsuccessful {
        let mut refused = Vec::new();
        for id in ids {
            let Some(service) = self.state(account).endpoint_services.get(*id).cloned() else {
                refused.push((
                    id.to_string(),
                    "InvalidVpcEndpointServiceId.NotFound",
                    format!("The Vpc Endpoint Service Id '{id}' does not exist"),
                ));
                continue;
            };
            let active = self.connections_of(&service.name).iter().any(|(_, e)| {
                matches!(
                    e.connection.as_deref(),
                    Some("accepted" | "pendingAcceptance")
                )
            });
            if active {
                refused.push((
                    id.to_string(),
                    "ExistingVpcEndpointConnections",
                    format!("Service {id} has existing active VPC Endpoint connections!"),
                ));
                continue;
            }
            let state = self.state(account);
            state.endpoint_services.remove(*id);
            state
                .connection_notifications
                .retain(|_, n| n.service.as_deref() != Some(*id));
        }
        refused
    }

    /// ModifyVpcEndpointServicePermissions: the permissions added (new ones only).
    pub fn change_permissions(
        &mut self,
        account: &str,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<ServicePermission>> {
        for p in add.iter().chain(remove) {
            check_principal(p)?;
        }
        let service = self.service_of(account, id)?;
        let mut added = Vec::new();
        for p in add {
            if !service.permissions.iter().any(|x| x.principal == *p) {
                let permission = ServicePermission {
                    id: new_id("vpce-svc-perm"),
                    principal: p.clone(),
                };
                service.permissions.push(permission.clone());
                added.push(permission);
            }
        }
        service
            .permissions
            .retain(|x| !remove.contains(&x.principal));
        Ok(added)
    }

    /// Every endpoint (of any account in this region) connected to the service named
    /// `name`, or asking to be, with its owner.
    fn connections_of(&self, name: &str) -> Vec<(String, VpcEndpoint)> {
        self.states
            .iter()
            .filter(|((_, region), _)| region == self.region)
            .flat_map(|((account, _), s)| {
                s.endpoints
                    .values()
                    .filter(|e| e.service_name == name)
                    .map(move |e| (account.clone(), e.clone()))
            })
            .collect()
    }

    /// CreateVpcEndpoint to an endpoint service by `account`'s principal `principal_arn`:
    /// the service must exist and allow that principal (else, as in EC2, it is not seen to
    /// exist), and each subnet must be in one of the service's availability zones. The
    /// endpoint waits for the provider's acceptance when the service requires it.
    pub fn create_service_endpoint(
        &mut self,
        account: &str,
        principal_arn: &str,
        request: InterfaceRequest<'_>,
    ) -> Result<VpcEndpoint> {
        let (provider, service) = self
            .find_service(request.service)
            .filter(|(owner, svc)| visible(owner, svc, account, principal_arn))
            .ok_or_else(|| service_name_not_found(request.service))?;
        let zones = self
            .states
            .get(&(provider.clone(), self.region.to_string()))
            .map(|s| s.service_zones(&service))
            .unwrap_or_default();
        let state = self.state(account);
        for subnet in request.subnets {
            let zone = &state.subnet(subnet)?.availability_zone;
            if !zones.contains(zone) {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!(
                        "The VPC endpoint service {} does not support the availability zone of the subnet: {subnet}.",
                        service.name
                    ),
                ));
            }
        }
        if request.policy.is_some() {
            return Err(ec2_error(
                "InvalidParameter",
                format!(
                    "The VPC endpoint service {} does not support policies.",
                    service.name
                ),
            ));
        }
        let connection = if service.acceptance_required {
            "pendingAcceptance"
        } else {
            "accepted"
        };
        let private_dns = request.private_dns && service.private_dns_name.is_some();
        let endpoint = state.add_interface_endpoint(
            InterfaceRequest {
                private_dns,
                ..request
            },
            Some(connection.to_string()),
        )?;
        let shown = if service.acceptance_required {
            "pendingAcceptance"
        } else {
            "pending"
        };
        self.emit("Connect", &provider, &service, account, &endpoint, shown);
        Ok(endpoint)
    }

    /// AcceptVpcEndpointConnections / RejectVpcEndpointConnections by the provider. Accepting
    /// takes an endpoint waiting for acceptance; rejecting takes one waiting or accepted.
    pub fn answer_connections(
        &mut self,
        account: &str,
        service_id: &str,
        endpoints: &[&str],
        accept: bool,
    ) -> Result<Unsuccessful> {
        let service = self.service_of(account, service_id)?.clone();
        let connected = self.connections_of(&service.name);
        let mut refused = Vec::new();
        for id in endpoints {
            let Some((owner, endpoint)) = connected.iter().find(|(_, e)| e.id == *id) else {
                refused.push((
                    id.to_string(),
                    "InvalidVpcEndpointId.NotFound",
                    format!("The Vpc Endpoint Id '{id}' does not exist"),
                ));
                continue;
            };
            let current = endpoint.connection.as_deref().unwrap_or_default();
            let allowed = if accept {
                current == "pendingAcceptance"
            } else {
                matches!(current, "pendingAcceptance" | "accepted")
            };
            if !allowed {
                refused.push((
                    id.to_string(),
                    "InvalidVpcEndpoint.InvalidState",
                    format!("Vpc Endpoint {id} is in state {current} and cannot be changed"),
                ));
                continue;
            }
            let next = if accept { "accepted" } else { "rejected" };
            if let Some(e) = self.state(owner).endpoints.get_mut(*id) {
                e.connection = Some(next.to_string());
            }
            let (event, shown) = if accept {
                ("Accept", "pending")
            } else {
                ("Reject", "rejected")
            };
            self.emit(event, account, &service, owner, endpoint, shown);
        }
        Ok(refused)
    }

    /// DeleteVpcEndpoints for one endpoint of `account`: an endpoint to an endpoint service
    /// tells the service's notifications (and its own) before it goes.
    pub fn delete_endpoint(&mut self, account: &str, id: &str) -> Result<()> {
        let endpoint = self.state(account).endpoint(id)?.clone();
        if endpoint.service_id().is_some()
            && let Some((provider, service)) = self.find_service(&endpoint.service_name)
        {
            self.emit("Delete", &provider, &service, account, &endpoint, "deleted");
        }
        let state = self.state(account);
        state.delete_endpoint(id)?;
        state
            .connection_notifications
            .retain(|_, n| n.endpoint.as_deref() != Some(id));
        Ok(())
    }

    /// The connections to `account`'s services, for DescribeVpcEndpointConnections.
    pub fn connections(&self, account: &str) -> Vec<Connection> {
        let Some(state) = self
            .states
            .get(&(account.to_string(), self.region.to_string()))
        else {
            return Vec::new();
        };
        state
            .endpoint_services
            .values()
            .flat_map(|svc| {
                self.connections_of(&svc.name)
                    .into_iter()
                    .map(|(owner, endpoint)| Connection {
                        service_id: svc.id.clone(),
                        owner,
                        endpoint,
                        load_balancers: svc.load_balancers.clone(),
                    })
            })
            .collect()
    }

    /// CreateVpcEndpointConnectionNotification for `account`'s service or interface endpoint.
    pub fn create_notification(
        &mut self,
        account: &str,
        service: Option<&str>,
        endpoint: Option<&str>,
        topic_arn: &str,
        events: &[String],
    ) -> Result<ConnectionNotification> {
        check_notification(topic_arn, events)?;
        let state = self.state(account);
        match (service, endpoint) {
            (Some(id), None) => {
                state
                    .endpoint_services
                    .get(id)
                    .ok_or_else(|| service_not_found(id))?;
            }
            (None, Some(id)) => {
                if state.endpoint(id)?.kind != "Interface" {
                    return Err(ec2_error(
                        "InvalidParameter",
                        "Connection notifications are supported for interface endpoints only",
                    ));
                }
            }
            _ => {
                return Err(ec2_error(
                    "InvalidParameter",
                    "Exactly one of ServiceId and VpcEndpointId must be specified",
                ));
            }
        }
        let notification = ConnectionNotification {
            id: new_id("vpce-nfn"),
            service: service.map(str::to_string),
            endpoint: endpoint.map(str::to_string),
            topic_arn: topic_arn.to_string(),
            events: events.to_vec(),
        };
        state
            .connection_notifications
            .insert(notification.id.clone(), notification.clone());
        Ok(notification)
    }

    /// ModifyVpcEndpointConnectionNotification: a new topic, new events, or both.
    pub fn modify_notification(
        &mut self,
        account: &str,
        id: &str,
        topic_arn: Option<&str>,
        events: Option<&[String]>,
    ) -> Result<()> {
        let state = self.state(account);
        let n = state
            .connection_notifications
            .get_mut(id)
            .ok_or_else(|| notification_not_found(id))?;
        check_notification(
            topic_arn.unwrap_or(&n.topic_arn),
            events.unwrap_or(&n.events),
        )?;
        if let Some(arn) = topic_arn {
            n.topic_arn = arn.to_string();
        }
        if let Some(events) = events {
            n.events = events.to_vec();
        }
        Ok(())
    }

    /// DeleteVpcEndpointConnectionNotifications: the ids that do not exist are returned.
    pub fn delete_notifications(&mut self, account: &str, ids: &[&str]) -> Unsuccessful {
        let state = self.state(account);
        let mut refused = Vec::new();
        for id in ids {
            if state.connection_notifications.remove(*id).is_none() {
                refused.push((
                    id.to_string(),
                    "InvalidConnectionNotification",
                    format!("The connection notification '{id}' does not exist"),
                ));
            }
        }
        refused
    }

    /// Queues the notices of one event: every notification of the service (in its
    /// provider's record) and of the endpoint (in its owner's) that asks for the event.
    fn emit(
        &mut self,
        event: &str,
        provider: &str,
        service: &EndpointService,
        owner: &str,
        endpoint: &VpcEndpoint,
        shown_state: &str,
    ) {
        let key = |account: &str| (account.to_string(), self.region.to_string());
        let mut targets: Vec<ConnectionNotification> = Vec::new();
        if let Some(s) = self.states.get(&key(provider)) {
            targets.extend(
                s.connection_notifications
                    .values()
                    .filter(|n| n.service.as_deref() == Some(service.id.as_str()))
                    .cloned(),
            );
        }
        if let Some(s) = self.states.get(&key(owner)) {
            targets.extend(
                s.connection_notifications
                    .values()
                    .filter(|n| n.endpoint.as_deref() == Some(endpoint.id.as_str()))
                    .cloned(),
            );
        }
        let created = now();
        for n in targets
            .into_iter()
            .filter(|n| n.events.iter().any(|e| e == event))
        {
            let message = serde_json::json!({
                "EventType": event,
                "ConnectionNotificationId": n.id,
                "ConnectionNotificationArn": n.topic_arn,
                "ServiceId": service.id,
                "ServiceName": service.name,
                "ServiceOwner": provider,
                "VpcEndpointId": endpoint.id,
                "VpcEndpointOwner": owner,
                "VpcEndpointState": shown_state,
                "Region": self.region,
            });
            self.notices.push(Notice {
                id: format!(
                    "{:016x}-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(0),
                    crate::credentials::random_string(b"0123456789abcdef", 8)
                ),
                topic_arn: n.topic_arn.clone(),
                notification_id: n.id.clone(),
                event: event.to_string(),
                message: message.to_string(),
                created,
                attempts: 0,
                delivered: None,
                last_error: None,
                abandoned: None,
            });
        }
    }
}

fn notification_not_found(id: &str) -> EngineError {
    ec2_error(
        "InvalidConnectionNotification",
        format!("The connection notification '{id}' does not exist"),
    )
}

/// A topic must be an SNS topic ARN and the events EC2's four.
fn check_notification(topic_arn: &str, events: &[String]) -> Result<()> {
    let parts: Vec<&str> = topic_arn.splitn(6, ':').collect();
    let topic_ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && cove_policy::is_account_id(parts[4])
        && !parts[5].is_empty();
    if !topic_ok {
        return Err(ec2_error(
            "InvalidParameter",
            format!("Invalid SNS topic ARN: {topic_arn}"),
        ));
    }
    if events.is_empty() {
        return Err(ec2_error(
            "MissingParameter",
            "The request must contain the parameter ConnectionEvents",
        ));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| !CONNECTION_EVENTS.contains(&e.as_str()))
    {
        return Err(ec2_error(
            "InvalidParameter",
            format!(
                "Invalid connection event: {bad}. Valid events are Accept, Connect, Delete and Reject"
            ),
        ));
    }
    Ok(())
}

/// Whether `account`'s principal `principal_arn` sees (and may connect to) a service of
/// `owner`: its own services, and those whose permissions admit it.
pub fn visible(owner: &str, service: &EndpointService, account: &str, principal_arn: &str) -> bool {
    owner == account
        || service
            .permissions
            .iter()
            .any(|p| p.admits(account, principal_arn))
}

impl NetworkState {
    /// Load balancers for a service: the account's own network load balancers, none
    /// backing a service other than `except`.
    fn check_service_balancers(&self, arns: &[String], except: Option<&str>) -> Result<()> {
        for arn in arns {
            if !self.load_balancers.contains_key(arn) {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!("Load balancer {arn} does not exist"),
                ));
            }
            if let Some(other) = self
                .endpoint_services
                .values()
                .find(|s| Some(s.id.as_str()) != except && s.load_balancers.contains(arn))
            {
                return Err(ec2_error(
                    "InvalidParameter",
                    format!(
                        "Load balancer {arn} is already associated with another VPC Endpoint Service: {}",
                        other.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The availability zones of a service: those of its load balancers.
    pub fn service_zones(&self, service: &EndpointService) -> Vec<String> {
        let mut zones: Vec<String> = service
            .load_balancers
            .iter()
            .filter_map(|arn| self.load_balancers.get(arn))
            .flat_map(|lb| lb.interfaces.iter().map(|i| i.availability_zone.clone()))
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }
}

impl Engine {
    /// Grows each time notices are queued, so a deliverer knows to look.
    pub fn outbox_generation(&self) -> u64 {
        self.outbox_generation.load(Ordering::Acquire)
    }

    /// Every notice in the outbox, oldest first.
    pub fn notices(&self) -> Result<Vec<Notice>> {
        let entries = self
            .storage
            .scan(&KeyRange::prefix(&[keys::OUTBOX]), ScanOptions::default())?;
        entries
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v)
                    .map_err(|e| EngineError::Corrupt(format!("outbox record: {e}")))
            })
            .collect()
    }

    /// Stores a notice's delivery state (after an attempt), and keeps the outbox bounded:
    /// beyond [`KEEP_DELIVERED`] finished notices, the oldest are dropped.
    pub fn record_notice(&self, notice: &Notice) -> Result<()> {
        let bytes = serde_json::to_vec(notice).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(outbox_key(&notice.id), bytes);
        if notice.delivered.is_some() || notice.abandoned.is_some() {
            let finished: Vec<Notice> = self
                .notices()?
                .into_iter()
                .filter(|n| n.id != notice.id && (n.delivered.is_some() || n.abandoned.is_some()))
                .collect();
            let excess = (finished.len() + 1).saturating_sub(KEEP_DELIVERED);
            for old in finished.iter().take(excess) {
                batch.delete(outbox_key(&old.id));
            }
        }
        self.storage.write(batch)?;
        Ok(())
    }
}
