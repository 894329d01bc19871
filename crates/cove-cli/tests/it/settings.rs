//! How `cove serve` is configured: the TOML file, `COVE_*` variables and flags with their
//! precedence, and HTTPS with `--tls-cert/--tls-key`.

use std::ffi::OsString;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Cove, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, data_dir};
use crate::raw_http::{exchange_on, ok_request};

fn root_env() -> [(&'static str, &'static str); 2] {
    [
        ("COVE_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
        ("COVE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY),
    ]
}

#[tokio::test]
async fn config_file_then_environment_then_flags() {
    let dir = data_dir();
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    let config = dir.path().join("cove.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\naccount_id = \"111122223333\"\n",
            from_file.display()
        ),
    )
    .unwrap();

    // The file alone: its listen address and data directory are used.
    let cove = Cove::launch(
        &[OsString::from("--config"), config.clone().into()],
        &root_env(),
    );
    assert!(from_file.join("cove.sqlite3").exists(), "{}", cove.log());
    let tables = cove.client().list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty());
    drop(cove);

    // A variable overrides the file.
    let from_env_str = from_env.to_str().unwrap().to_string();
    let mut env = root_env().to_vec();
    env.push(("COVE_DATA_DIR", &from_env_str));
    let cove = Cove::launch(&[OsString::from("--config"), config.clone().into()], &env);
    assert!(from_env.join("cove.sqlite3").exists(), "{}", cove.log());
    drop(cove);

    // A flag overrides both.
    let from_flag = dir.path().join("from-flag");
    let cove = Cove::launch(
        &[
            OsString::from("--config"),
            config.clone().into(),
            OsString::from("--data-dir"),
            from_flag.clone().into(),
        ],
        &env,
    );
    assert!(from_flag.join("cove.sqlite3").exists(), "{}", cove.log());
    assert!(
        cove.log().contains(&from_flag.display().to_string()),
        "the log names where data lives: {}",
        cove.log()
    );
    // The account id from the file reaches the table ARNs.
    let client = cove.client();
    client
        .create_table()
        .table_name("things")
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let arn = client
        .describe_table()
        .table_name("things")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    assert_eq!(arn, "arn:aws:dynamodb:us-east-1:111122223333:table/things");
}

#[test]
fn unknown_config_keys_are_refused_at_start() {
    let dir = data_dir();
    let config = dir.path().join("cove.toml");
    std::fs::write(&config, "listne = \"127.0.0.1:0\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("COVE_LISTEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listne"), "{stderr}");
}

#[test]
fn https_with_a_certificate_and_key() {
    let dir = data_dir();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let cove = Cove::launch(
        &[
            OsString::from("--listen"),
            OsString::from("127.0.0.1:0"),
            OsString::from("--data-dir"),
            data.into(),
            OsString::from("--tls-cert"),
            cert_path.into(),
            OsString::from("--tls-key"),
            key_path.into(),
        ],
        &root_env(),
    );
    assert!(
        cove.log().contains("cove listening on https://"),
        "{}",
        cove.log()
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(cove.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let tls = rustls::StreamOwned::new(conn, tcp);
    let reply = exchange_on(tls, &ok_request(cove.addr, "ListTables", "{}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"TableNames": []}));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(cove.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    use std::io::{Read, Write};
    let _ = plain.write_all(&ok_request(cove.addr, "ListTables", "{}"));
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"HTTP/1.1 200"), "plain HTTP was served");
}
