//! `delay-proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS`: a TCP proxy on 127.0.0.1 that holds every
//! chunk the client sends for DELAY_MS before passing it on. On a keep-alive HTTP connection each
//! request arrives as one chunk, so this adds about DELAY_MS to every request, like the round trip
//! to S3 from a Lambda or an EC2 instance. Used by the S3 latency benchmark.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, delay] = args.as_slice() else {
        eprintln!("usage: delay-proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS");
        std::process::exit(2);
    };
    let delay = Duration::from_millis(delay.parse().expect("DELAY_MS is a number"));
    let upstream = format!("127.0.0.1:{upstream}");
    let listener = TcpListener::bind(format!("127.0.0.1:{listen}")).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            let up = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = client_rx.read(&mut buf).await?;
                    if n == 0 {
                        return server_tx.shutdown().await;
                    }
                    tokio::time::sleep(delay).await;
                    server_tx.write_all(&buf[..n]).await?;
                }
            };
            let down = async move {
                tokio::io::copy(&mut server_rx, &mut client_tx)
                    .await
                    .map(|_| ())
            };
            let _ = tokio::try_join!(up, down);
        });
    }
}
