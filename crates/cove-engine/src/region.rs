//! Operations that span accounts: every account's network record of one region at once,
//! for what one account does to another's (PrivateLink's acceptance and notifications,
//! VPC peering across accounts). [`Engine::network_region_update`] writes every record that
//! changed, and the notices queued, in one atomic batch.

use std::sync::atomic::Ordering;

use cove_storage::WriteBatch;

use crate::follow::Area;
use crate::network::{NetworkState, PeeringConnection, States, Tags, ec2_error, network_key};
use crate::services::Notice;
use crate::{Engine, EngineError, Result};

/// Every account's network record of one region, for the operations that span accounts.
pub struct Region<'a> {
    pub(crate) region: &'a str,
    pub(crate) states: &'a mut States,
    /// Connection notifications the operation caused, written with it.
    pub(crate) notices: Vec<Notice>,
}

impl Region<'_> {
    /// `account`'s record in this region (an empty one if it has none yet).
    pub fn state(&mut self, account: &str) -> &mut NetworkState {
        self.states
            .entry((account.to_string(), self.region.to_string()))
            .or_insert_with(|| NetworkState::new(account, self.region))
    }

    /// CreateVpcPeeringConnection from `account`'s VPC to `peer_vpc` of `peer_owner` (the
    /// same account, or another, which must accept). Across accounts both records hold the
    /// connection, so each side sees it and routes through it.
    pub fn create_peering(
        &mut self,
        account: &str,
        vpc: &str,
        peer_vpc: &str,
        peer_owner: &str,
        tags: Tags,
    ) -> Result<PeeringConnection> {
        if peer_owner == account {
            return self.state(account).create_peering(vpc, peer_vpc, tags);
        }
        let accepter_cidr = self
            .states
            .get(&(peer_owner.to_string(), self.region.to_string()))
            .and_then(|s| s.vpcs.get(peer_vpc))
            .map(|v| v.cidr.clone())
            .ok_or_else(|| {
                ec2_error(
                    "InvalidVpcID.NotFound",
                    format!("The vpc ID '{peer_vpc}' does not exist"),
                )
            })?;
        let peering = self.state(account).create_peering_with(
            vpc,
            peer_vpc,
            &accepter_cidr,
            peer_owner,
            tags,
        )?;
        self.state(peer_owner)
            .peerings
            .insert(peering.id.clone(), peering.clone());
        Ok(peering)
    }

    /// AcceptVpcPeeringConnection or RejectVpcPeeringConnection by `account`, which must be
    /// the accepter's owner; both sides' copies change.
    pub fn answer_peering(
        &mut self,
        account: &str,
        id: &str,
        accept: bool,
    ) -> Result<PeeringConnection> {
        let peering = self.state(account).peering(id)?.clone();
        if peering.accepter_owner(account) != account {
            return Err(ec2_error(
                "OperationNotPermitted",
                format!(
                    "User {account} cannot {} peering {id}: only the accepter's owner can",
                    if accept { "accept" } else { "reject" }
                ),
            ));
        }
        let answered = self.state(account).answer_peering(id, accept)?;
        self.mirror(account, &answered);
        Ok(answered)
    }

    /// DeleteVpcPeeringConnection by either side's owner; both sides' copies change.
    pub fn delete_peering(&mut self, account: &str, id: &str) -> Result<()> {
        self.state(account).delete_peering(id)?;
        let deleted = self.state(account).peering(id)?.clone();
        self.mirror(account, &deleted);
        Ok(())
    }

    /// Copies a connection changed in `account`'s record to the other side's record.
    fn mirror(&mut self, account: &str, peering: &PeeringConnection) {
        let other = if peering.accepter_owner(account) == account {
            peering.requester_owner(account).to_string()
        } else {
            peering.accepter_owner(account).to_string()
        };
        if other != account {
            self.state(&other)
                .peerings
                .insert(peering.id.clone(), peering.clone());
        }
    }
}

impl Engine {
    /// Reads every account's network record of `region`.
    pub fn network_region_read<T>(&self, region: &str, f: impl FnOnce(&Region<'_>) -> T) -> T {
        let guard = self.network.read().unwrap_or_else(|e| e.into_inner());
        let mut copy: States = guard
            .0
            .iter()
            .filter(|((_, r), _)| r == region)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        drop(guard);
        f(&Region {
            region,
            states: &mut copy,
            notices: Vec::new(),
        })
    }

    /// Changes any accounts' network records of `region` at once: `f` works on copies;
    /// the records it changed and the notices it queued are written in one atomic batch,
    /// and become current only if `f` succeeds.
    pub fn network_region_update<T>(
        &self,
        region: &str,
        f: impl FnOnce(&mut Region<'_>) -> Result<T>,
    ) -> Result<T> {
        let _serial = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        // As every network change: from the newest records, committed only if no other node
        // changed a network since (see `follow.rs`).
        self.refresh()?;
        let expected = self.generation(Area::Network);
        let original: States = {
            let guard = self.network.read().unwrap_or_else(|e| e.into_inner());
            guard
                .0
                .iter()
                .filter(|((_, r), _)| r == region)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut copy = original.clone();
        let mut scope = Region {
            region,
            states: &mut copy,
            notices: Vec::new(),
        };
        let out = f(&mut scope)?;
        let notices = std::mem::take(&mut scope.notices);
        let mut batch = WriteBatch::new();
        let mut changed = Vec::new();
        for (key, state) in &copy {
            // An account looked up but left as empty as it was (an unknown id, say) stays
            // without a record.
            let untouched = match original.get(key) {
                Some(before) => before == state,
                None => *state == NetworkState::new(&key.0, &key.1),
            };
            if !untouched {
                let bytes =
                    serde_json::to_vec(state).map_err(|e| EngineError::Internal(e.to_string()))?;
                batch.put(network_key(&key.0, &key.1), bytes);
                changed.push(key.clone());
            }
        }
        for n in &notices {
            let bytes = serde_json::to_vec(n).map_err(|e| EngineError::Internal(e.to_string()))?;
            batch.put(crate::services::outbox_key(&n.id), bytes);
        }
        if batch.is_empty() {
            return Ok(out);
        }
        let generation = self.commit_control(batch, Area::Network, Some(expected))?;
        self.installed(Area::Network, generation, || {
            let mut guard = self.network.write().unwrap_or_else(|e| e.into_inner());
            for key in changed {
                if let Some(state) = copy.remove(&key) {
                    guard.0.insert(key, state);
                }
            }
            guard.1 = std::sync::Arc::new(crate::network::compile(&guard.0));
        });
        if !notices.is_empty() {
            self.outbox_generation.fetch_add(1, Ordering::Release);
        }
        Ok(out)
    }
}
