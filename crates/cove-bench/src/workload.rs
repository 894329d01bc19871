//! The workloads: which keys each worker picks (uniform, or zipfian as YCSB draws them), the
//! request bodies, and the checks on answers that make a server answering `{}` count as
//! errors rather than speed.

use std::ops::Range;

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::client::Client;

#[derive(Clone, Copy)]
pub enum Workload {
    /// BatchWriteItem of every record once.
    Load,
    /// GetItem for `read_percent` of operations, UpdateItem for the rest (A: 50, B: 95, C: 100).
    Mixed { read_percent: u32 },
    /// Query with Limit 20 on one partition.
    Query,
}

#[derive(Clone, Copy)]
pub enum Distribution {
    Uniform,
    Zipfian,
}

/// Picks record numbers for one worker.
pub struct KeyChooser {
    rng: SmallRng,
    records: u64,
    distribution: Distribution,
    zipf: Zipf,
}

/// YCSB's zipfian generator (Gray et al., "Quickly generating billion-record synthetic
/// databases"), constant 0.99, scrambled so the hot keys are spread over the key space.
struct Zipf {
    alpha: f64,
    zetan: f64,
    eta: f64,
    theta: f64,
}

impl Zipf {
    fn new(n: u64) -> Zipf {
        let theta = 0.99;
        let zeta = |n: u64| (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2.min(n));
        Zipf {
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
            theta,
        }
    }

    fn sample(&self, n: u64, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(n - 1);
        }
        ((n as f64) * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64 % n
    }
}

impl KeyChooser {
    pub fn new(records: usize, distribution: Distribution, seed: u64) -> KeyChooser {
        let records = records.max(1) as u64;
        KeyChooser {
            rng: SmallRng::seed_from_u64(0x5EED ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            records,
            distribution,
            zipf: Zipf::new(match distribution {
                Distribution::Zipfian => records,
                Distribution::Uniform => 2,
            }),
        }
    }

    pub fn next(&mut self) -> u64 {
        match self.distribution {
            Distribution::Uniform => self.rng.random_range(0..self.records),
            Distribution::Zipfian => {
                let rank = self.zipf.sample(self.records, self.rng.random::<f64>());
                // Scramble the rank (FNV-1a) so popular keys are not neighbours.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in rank.to_le_bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
                h % self.records
            }
        }
    }

    /// A number in 0..100, for choosing reads and writes.
    pub fn percent(&mut self) -> u32 {
        self.rng.random_range(0..100)
    }
}

/// One request and what its answer must contain.
pub struct Op {
    pub target: &'static str,
    pub body: Vec<u8>,
    /// For reads: the key the item must carry.
    expect: Option<String>,
    kind: Kind,
}

enum Kind {
    Get,
    Write,
    Query,
}

impl Op {
    /// Checks a 200 answer: `Ok(true)` when a read was verified, `Err` with an error label when
    /// the answer is not what the operation must return.
    pub fn check(&self, body: &[u8], verify_keys: bool) -> Result<bool, String> {
        match self.kind {
            Kind::Write => Ok(false),
            Kind::Get => {
                let v: Value =
                    serde_json::from_slice(body).map_err(|_| "unparsable answer".to_string())?;
                let Some(pk) = v["Item"]["pk"]["S"].as_str() else {
                    return Err("GetItem answer without the item".into());
                };
                if verify_keys && Some(pk) != self.expect.as_deref() {
                    return Err("GetItem answer with the wrong item".into());
                }
                Ok(true)
            }
            Kind::Query => {
                let v: Value =
                    serde_json::from_slice(body).map_err(|_| "unparsable answer".to_string())?;
                match v["Items"].as_array() {
                    Some(items) if !items.is_empty() => Ok(true),
                    _ => Err("Query answer without items".into()),
                }
            }
        }
    }
}

fn key_name(n: u64) -> String {
    format!("user{n}")
}

pub fn get(table: &str, n: u64) -> Op {
    let key = key_name(n);
    Op {
        target: "DynamoDB_20120810.GetItem",
        body: json!({"TableName": table, "Key": {"pk": {"S": key}}})
            .to_string()
            .into_bytes(),
        expect: Some(key),
        kind: Kind::Get,
    }
}

pub fn update(table: &str, n: u64, value: &str) -> Op {
    Op {
        target: "DynamoDB_20120810.UpdateItem",
        body: json!({
            "TableName": table,
            "Key": {"pk": {"S": key_name(n)}},
            "UpdateExpression": "SET v = :v, n = if_not_exists(n, :zero) + :one",
            "ExpressionAttributeValues": {":v": {"S": value}, ":zero": {"N": "0"}, ":one": {"N": "1"}}
        })
        .to_string()
        .into_bytes(),
        expect: None,
        kind: Kind::Write,
    }
}

pub fn batch_put(table: &str, range: Range<usize>, value: &str) -> Op {
    let requests: Vec<Value> = range
        .map(|i| {
            json!({"PutRequest": {"Item": {
                "pk": {"S": key_name(i as u64)}, "v": {"S": value},
                // Query workloads read partition p0, sorted by sk.
                "qp": {"S": "p0"}, "sk": {"N": i.to_string()}
            }}})
        })
        .collect();
    Op {
        target: "DynamoDB_20120810.BatchWriteItem",
        body: json!({"RequestItems": {table: requests}})
            .to_string()
            .into_bytes(),
        expect: None,
        kind: Kind::Write,
    }
}

/// Query Limit 20 on partition `p0` of the query table (`qp` hash, `sk` range).
pub fn query(table: &str) -> Op {
    Op {
        target: "DynamoDB_20120810.Query",
        body: json!({
            "TableName": table,
            "KeyConditionExpression": "qp = :p",
            "ExpressionAttributeValues": {":p": {"S": "p0"}},
            "Limit": 20
        })
        .to_string()
        .into_bytes(),
        expect: None,
        kind: Kind::Query,
    }
}

/// Creates the table (pay per request; for Query workloads keyed on `qp`/`sk`) and waits until
/// it is ACTIVE. An existing table is left as it is.
pub async fn create_table(client: &mut Client, table: &str, for_query: bool) -> Result<()> {
    let body = if for_query {
        json!({"TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "qp", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "qp", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]})
    } else {
        json!({"TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    };
    let (status, answer) = client
        .send("DynamoDB_20120810.CreateTable", body.to_string().as_bytes())
        .await?;
    if status != 200 && !String::from_utf8_lossy(&answer).contains("ResourceInUse") {
        anyhow::bail!("CreateTable failed: {}", String::from_utf8_lossy(&answer));
    }
    for _ in 0..100 {
        let (_, answer) = client
            .send(
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": table}).to_string().as_bytes(),
            )
            .await?;
        if String::from_utf8_lossy(&answer).contains("\"ACTIVE\"") {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("table {table} did not become ACTIVE")
}
