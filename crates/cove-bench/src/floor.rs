//! The floor: a minimal hyper server that answers every request with the same valid GetItem
//! response, reading the request body but touching no storage and checking no signature. What
//! the load generator gets from it is the most any server can give it on this machine.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let value = "v".repeat(1000);
    let body = Bytes::from(format!(
        r#"{{"Item":{{"pk":{{"S":"user0"}},"v":{{"S":"{value}"}}}}}}"#
    ));
    let crc = crc32fast::hash(&body);
    eprintln!("floor listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    // Read the request as a real server must.
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/x-amz-json-1.0")
                            .header("x-amz-crc32", crc.to_string())
                            .body(Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
