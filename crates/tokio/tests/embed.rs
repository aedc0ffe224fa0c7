//! A tokio program embeds a sansnet machine the way a smol one does: `drive`
//! over a socket `register`ed from one of its own tasks, inside its own
//! runtime, and no second reactor (no async-io thread) appears.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rt::proto::echo::Echo;
use sansnet_tokio as rt;

/// The names of this process's threads.
fn threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("our threads");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
fn echo_driven_inside_a_tokio_runtime() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        c.write_all(b"hello").expect("write");
        let mut back = [0u8; 5];
        c.read_exact(&mut back).expect("the echo");
        back // dropped: the server sees the end of the stream
    });
    let (stream, _) = listener.accept().expect("accept");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .expect("a runtime");
    let driven = runtime.block_on(async {
        tokio::spawn(async {
            let ctl = rt::Control::new(rt::ServerConfig::default());
            let io = rt::register(rt::Stream::Tcp(stream))?;
            let mut echo = Echo::new(ctl.clock.now());
            let mut app = |_: &mut Echo, event: Infallible| match event {};
            let driven = tokio::time::timeout(
                Duration::from_secs(10),
                rt::drive(&io, &mut echo, &mut app, &ctl),
            );
            driven.await.map_err(std::io::Error::other)?
        })
        .await
        .expect("the task")
    });
    driven.expect("driven to the end of the stream");
    assert_eq!(&client.join().expect("the client"), b"hello");
    let names = threads();
    assert!(!names.iter().any(|t| t == "async-io"), "{names:?}");
}
