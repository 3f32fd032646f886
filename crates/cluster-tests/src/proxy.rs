//! A TCP proxy on loopback that delays what the client sends by a fixed time (TLS passes through
//! untouched). Put between the reconciler and the API server, it makes "the Pod changed between the
//! reconciler's read and its patch" certain while another writer is busy, instead of a lucky race.

use std::{net::SocketAddr, time::Duration};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

pub struct SlowProxy {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`, each chunk the client sends
    /// delivered `delay` after it was read (in order); replies flow back at once.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> Result<SlowProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = forward(client, server, delay).await;
                    }
                });
            }
        });
        Ok(SlowProxy { addr, task })
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, delay: Duration) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if sw.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut sr, &mut cw).await;
    reader.abort();
    writer.abort();
    Ok(())
}

/// A TCP proxy on loopback that can stall: while stalled it forwards nothing in either direction
/// and closes nothing, and what arrives meanwhile is dropped (a black hole, as a dead link or a
/// wedged middlebox is: the client's requests neither land late nor fail, they hang). Put between
/// one reconciler replica and the API server, it cuts that replica off while the other one goes on.
pub struct StallProxy {
    pub addr: SocketAddr,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    pub async fn start(upstream: SocketAddr) -> Result<StallProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        let up = tokio::spawn(pipe(cr, sw, flag.clone()));
                        let _ = pipe(sr, cw, flag).await;
                        up.abort();
                    }
                });
            }
        });
        Ok(StallProxy {
            addr,
            stalled,
            task,
        })
    }

    /// From now on nothing passes, in either direction, on any connection.
    pub fn stall(&self) {
        self.stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // A stalled link carries no FIN either.
            if stalled.load(std::sync::atomic::Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            return to.shutdown().await;
        }
        if !stalled.load(std::sync::atomic::Ordering::SeqCst) {
            to.write_all(&buf[..n]).await?;
        }
    }
}
