//! Shows that a Query's cost follows the items it returns, not the size of the partition it
//! reads: Query with Limit 20 on a 1-item, a 20-item and a 100 000-item partition of one
//! table on the SQLite backend, timed in alternating rounds in one run, reported as ratios.
//!
//! Run: `cargo bench -p cove-engine --bench query_cost` (optional argument: the big
//! partition's item count, default 100000).

use std::time::Instant;

use serde_json::json;

use cove_engine::{Engine, Scope};
use cove_storage::Storage;
use cove_storage_sqlite::{SqliteBackend, SqliteOptions};
use cove_wire::input::{CreateTableInput, PutItemInput};
use cove_wire::read::QueryInput;

fn scope() -> Scope {
    Scope {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
    }
}

fn open(path: &std::path::Path, durable: bool) -> Engine {
    let backend = SqliteBackend::open(
        path,
        SqliteOptions {
            synchronous_full: durable,
            ..SqliteOptions::default()
        },
    )
    .expect("open sqlite");
    Engine::open(Storage::new(backend)).expect("open engine")
}

fn put(engine: &Engine, pk: &str, sk: usize) {
    let body = json!({"TableName": "bench", "Item": {
        "pk": {"S": pk}, "sk": {"N": sk.to_string()}, "payload": {"S": "x".repeat(100)}
    }});
    let input = PutItemInput::decode(body.as_object().expect("object")).expect("put input");
    engine.put_item(&scope(), input).expect("put");
}

fn query(engine: &Engine, pk: &str) -> usize {
    let body = json!({"TableName": "bench", "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": pk}}, "Limit": 20});
    let input = QueryInput::decode(body.as_object().expect("object")).expect("query input");
    engine
        .query(&scope(), input)
        .expect("query")
        .items
        .map_or(0, |i| i.len())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let big: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.sqlite");
    {
        // Loading needs no fsync per item; the measurement below reopens with defaults.
        let engine = open(&path, false);
        let body = json!({"TableName": "bench",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST"});
        let input = CreateTableInput::decode(body.as_object().expect("object")).expect("create");
        engine.create_table(&scope(), input).expect("create table");
        put(&engine, "one", 0);
        for i in 0..20 {
            put(&engine, "twenty", i);
        }
        for i in 0..big {
            put(&engine, "big", i);
        }
        engine.storage().close().expect("close");
    }
    let engine = open(&path, true);
    let partitions = [("one", 1), ("twenty", 20), ("big", 20)];
    let per_round = 2000;
    let mut timings: Vec<Vec<f64>> = vec![Vec::new(); partitions.len()];
    for _round in 0..7 {
        for (i, (pk, expected)) in partitions.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                assert_eq!(query(&engine, pk), *expected, "partition {pk}");
            }
            timings[i].push(start.elapsed().as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    let medians: Vec<f64> = timings.into_iter().map(median).collect();
    println!(
        "| partition | items in partition | items returned | µs per Query (median of 7 rounds) |"
    );
    println!("|---|---|---|---|");
    for ((pk, returned), m) in partitions.iter().zip(&medians) {
        let size = match *pk {
            "one" => 1,
            "twenty" => 20,
            _ => big,
        };
        println!("| {pk} | {size} | {returned} | {m:.1} |");
    }
    println!(
        "\nratio big/twenty (same items returned): {:.2}; ratio big/one: {:.2}",
        medians[2] / medians[1],
        medians[2] / medians[0]
    );
}
