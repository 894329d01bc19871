//! Following the other nodes that share the store. The engine caches the control plane (the
//! table catalog, IAM with the access keys, and the networks) and writes it through on change;
//! with several nodes on one database, each must see the others' changes.
//!
//! Each area has a generation, a counter in the store (`0x00 generation/<area>`) that every
//! change of the area bumps in its own transaction, signalling the batch so the other nodes'
//! watches wake (see `cove_storage::Watch`). The engine remembers the generation each cache was
//! loaded at; [`Engine::refresh`] reads the generations and reloads the areas that moved, all
//! from one snapshot. A cache is only ever replaced by one of a higher generation, so a reload
//! that read an older snapshot than a change this node just made cannot undo it; and a node's
//! own change advances its cache's generation only when it directly follows it, so changes
//! of other nodes committed in between are still reloaded.
//!
//! Changes are checked against what the node cached, inside their serializable transaction:
//! IAM and network changes require their area's generation to be the one their copy was made
//! from, and table changes require the stored table record to be the cached one. A node that
//! lost the race gets [`EngineError::Stale`], reloads, and the request is retried (by the
//! client, as for any retryable server error). Item writes check the table's revision, which
//! its counters record (see `write.rs`), so no write commits against a table definition that
//! lacks an index or a time-to-live attribute another node has just added; they reload and
//! retry by themselves.

use std::sync::Arc;

use cove_storage::{AbortError, ReadView, WriteBatch};

use crate::catalog::Table;
use crate::tables::abort;
use crate::{Engine, EngineError, Result, keys};

/// A cached part of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    Catalog = 0,
    /// IAM records and access keys (credentials), which IAM actions change together.
    Iam = 1,
    Network = 2,
}

const AREAS: [Area; 3] = [Area::Catalog, Area::Iam, Area::Network];

impl Area {
    fn key(self) -> Vec<u8> {
        keys::meta_key(match self {
            Area::Catalog => "generation/catalog",
            Area::Iam => "generation/iam",
            Area::Network => "generation/network",
        })
    }
}

/// The stored generation of `area` (0 before its first change).
fn stored(view: &dyn ReadView, area: Area) -> Result<u64> {
    match view.get(&area.key())? {
        None => Ok(0),
        Some(v) => Ok(u64::from_be_bytes(v.as_slice().try_into().map_err(
            |_| EngineError::Corrupt("control-plane generation".into()),
        )?)),
    }
}

/// Every area's stored generation, for an engine opening.
pub(crate) fn stored_all(view: &dyn ReadView) -> Result<[u64; 3]> {
    let mut out = [0; 3];
    for area in AREAS {
        out[area as usize] = stored(view, area)?;
    }
    Ok(out)
}

/// Inside a change's transaction: bumps `area`'s generation in `batch`, signalled, after
/// checking (when `expected` is given) that it is still the one the change's copy was made
/// from. Returns the new generation.
pub(crate) fn bump(
    view: &dyn ReadView,
    batch: &mut WriteBatch,
    area: Area,
    expected: Option<u64>,
) -> std::result::Result<u64, AbortError> {
    let now = stored(view, area).map_err(abort)?;
    if expected.is_some_and(|e| e != now) {
        return Err(abort(EngineError::Stale));
    }
    batch.put(area.key(), (now + 1).to_be_bytes().to_vec());
    batch.signal();
    Ok(now + 1)
}

/// What one area's reload read, ready to install.
enum Loaded {
    Catalog(std::collections::HashMap<crate::catalog::TableKey, Arc<Table>>),
    Iam(
        std::collections::HashMap<String, crate::Credential>,
        std::collections::HashMap<
            String,
            (crate::iam::AccountIam, Arc<crate::iam::CompiledAccount>),
        >,
    ),
    Network(crate::network::States, Arc<crate::network::NetworkView>),
}

impl Engine {
    /// The generation this node's cache of `area` was loaded at or last changed to.
    pub(crate) fn generation(&self, area: Area) -> u64 {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())[area as usize]
    }

    /// Commits a control-plane change of `area` (`batch`) with the bump of its generation,
    /// checked against `expected` when given; returns the new generation.
    pub(crate) fn commit_control(
        &self,
        batch: WriteBatch,
        area: Area,
        expected: Option<u64>,
    ) -> Result<u64> {
        self.storage
            .transact_with(move |view| {
                let mut batch = batch;
                let generation = bump(view, &mut batch, area, expected)?;
                Ok((batch, generation))
            })
            .map_err(crate::tables::unabort)
    }

    /// Applies this node's own change, committed as generation `generation` of `area`, to the
    /// cache (`install`), under the lock that orders cache replacements. If the cache already
    /// reflects that generation or a later one (a reload read it), the change is in it and
    /// `install` is skipped. If the cache is older than the generation before, another node's
    /// changes came between: the change is applied, but the cache keeps its older generation,
    /// so the next refresh reloads the area whole.
    pub(crate) fn installed(&self, area: Area, generation: u64, install: impl FnOnce()) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut generations[area as usize];
        if generation <= *slot {
            return;
        }
        install();
        if generation == *slot + 1 {
            *slot = generation;
        }
    }

    /// Reloads every area another node (or process) changed since this node last looked;
    /// returns whether any was reloaded. Cheap when nothing moved: one snapshot, three reads.
    /// Called when the store's watch signals and about twice a second besides, and before
    /// every control-plane change.
    pub fn refresh(&self) -> Result<bool> {
        self.reload(false)
    }

    /// [`Engine::refresh`], reloading IAM and the access keys even if their generation did
    /// not move (another process wrote them without bumping it: an older `cove account create`).
    pub(crate) fn reload(&self, force_iam: bool) -> Result<bool> {
        let view = self.storage.snapshot()?;
        let mut loaded = Vec::new();
        for area in AREAS {
            let generation = stored(view.as_ref(), area)?;
            let moved = generation > self.generation(area) || (force_iam && area == Area::Iam);
            if !moved {
                continue;
            }
            let data = match area {
                Area::Catalog => Loaded::Catalog(crate::catalog::load(view.as_ref())?),
                Area::Iam => Loaded::Iam(
                    crate::credentials::load(view.as_ref())?,
                    crate::iam::load(view.as_ref())?,
                ),
                Area::Network => {
                    let (states, compiled) = crate::network::load(view.as_ref())?;
                    Loaded::Network(states, compiled)
                }
            };
            loaded.push((area, generation, data));
        }
        drop(view);
        let reloaded = !loaded.is_empty();
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        for (area, generation, data) in loaded {
            let slot = &mut generations[area as usize];
            if generation < *slot || (generation == *slot && !force_iam) {
                // This node changed the area meanwhile and already holds a newer state.
                continue;
            }
            *slot = generation;
            match data {
                Loaded::Catalog(tables) => {
                    *self.tables.write().unwrap_or_else(|e| e.into_inner()) = tables;
                }
                Loaded::Iam(credentials, iam) => {
                    *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = credentials;
                    *self.iam.write().unwrap_or_else(|e| e.into_inner()) = iam;
                }
                Loaded::Network(states, compiled) => {
                    *self.network.write().unwrap_or_else(|e| e.into_inner()) = (states, compiled);
                }
            }
        }
        if reloaded {
            tracing::debug!("control plane reloaded after another node's change");
        }
        Ok(reloaded)
    }

    /// Runs a write whose input moves into it (a batch, a transaction) and, on a shared store,
    /// runs it again on a copy of its input when it found a table definition out of date (it
    /// has reloaded by then, see [`Engine::after_stale`]), up to a few times. A store of its
    /// own never finds one stale, so the input is not copied there.
    pub(crate) fn rerun_stale<I: Clone, T>(
        &self,
        input: I,
        run: impl Fn(I) -> Result<T>,
    ) -> Result<T> {
        if !self.options.shared {
            return run(input);
        }
        let mut attempt = 1;
        loop {
            match run(input.clone()) {
                Err(EngineError::Stale) if attempt < crate::items::STALE_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    /// Passes `error` on, after catching up with the store when it is [`EngineError::Stale`], so
    /// that a rerun (or the client's retry) finds the new definitions.
    pub(crate) fn after_stale(&self, error: EngineError) -> EngineError {
        if matches!(error, EngineError::Stale)
            && let Err(err) = self.refresh()
        {
            return err;
        }
        error
    }

    /// The current definition of `table` after catching up with the store, for a write that
    /// found its cached definition stale; the table is gone if it was deleted (or recreated).
    pub(crate) fn fresh_table(&self, table: &Table) -> Result<Arc<Table>> {
        self.refresh()?;
        let current = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&table.key())
            .cloned();
        current
            .filter(|t| t.record.id == table.record.id)
            .ok_or_else(|| EngineError::ResourceNotFound("Requested resource not found".into()))
    }
}
