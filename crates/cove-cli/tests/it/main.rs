//! Integration tests that drive a real `cove serve` process: with the AWS SDK for Rust, with
//! raw HTTP for signatures and wire details, and through kill -9 for durability. One test
//! binary, so the SDK is linked once.

mod abuse;
mod common;
mod crash;
mod dns;
mod expressions;
mod indexes;
mod multinode;
mod outage;
mod partiql;
mod query;
mod raw_http;
mod sdk;
mod settings;
mod table_settings;
mod transactions;
mod updates;
