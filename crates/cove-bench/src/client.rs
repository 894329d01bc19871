//! One keep-alive HTTP/1.1 connection that sends SigV4-signed DynamoDB JSON requests, signed
//! as the AWS SDKs sign them (`content-type;host;x-amz-date;x-amz-target`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The credentials and endpoint every request is signed for.
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    /// The `host` header: the endpoint's authority.
    pub host: String,
}

impl Signer {
    /// The `x-amz-date` and `Authorization` values for a request.
    fn sign(
        &self,
        target: &str,
        body: &[u8],
        key: &mut Option<(String, [u8; 32])>,
    ) -> (String, String) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let amz_date = cove_sigv4::format_amz_date(now);
        let date = &amz_date[..8];
        // The signing key depends only on the day: derive it once per day.
        let signing_key = match key {
            Some((d, k)) if d == date => *k,
            _ => {
                let k = cove_sigv4::signing_key(&self.secret, date, &self.region, "dynamodb");
                *key = Some((date.to_string(), k));
                k
            }
        };
        let headers: [(&str, &[u8]); 4] = [
            ("content-type", b"application/x-amz-json-1.0"),
            ("host", self.host.as_bytes()),
            ("x-amz-date", amz_date.as_bytes()),
            ("x-amz-target", target.as_bytes()),
        ];
        let signed: Vec<String> = headers.iter().map(|(n, _)| n.to_string()).collect();
        let request = cove_sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload: body,
        };
        let canonical = cove_sigv4::canonical_request(&request, &signed).unwrap_or_default();
        let scope = format!("{date}/{}/dynamodb/aws4_request", self.region);
        let to_sign = cove_sigv4::string_to_sign(&amz_date, &scope, &canonical);
        let signature = cove_sigv4::signature(&signing_key, &to_sign);
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.access_key_id,
            signed.join(";")
        );
        (amz_date, authorization)
    }
}

/// A worker's connection.
pub struct Client {
    pub signer: Arc<Signer>,
    sender: SendRequest<Full<Bytes>>,
    key: Option<(String, [u8; 32])>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, signer: Arc<Signer>) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Client {
            signer,
            sender,
            key: None,
        })
    }

    /// Sends one operation (`DynamoDB_20120810.GetItem`, ...) and returns status and body.
    pub async fn send(&mut self, target: &str, body: &[u8]) -> Result<(u16, Bytes)> {
        let (amz_date, authorization) = self.signer.sign(target, body, &mut self.key);
        let request = http::Request::post("/")
            .header("host", &self.signer.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-date", amz_date)
            .header("x-amz-target", target)
            .header("authorization", authorization)
            .body(Full::new(Bytes::copy_from_slice(body)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
