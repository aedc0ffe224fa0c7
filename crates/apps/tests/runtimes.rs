//! The applications over each runtime, in process on 127.0.0.1:0: the
//! static file server answers a plain `TcpStream`, and a file goes through
//! the library's receiver.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::{fs, io};

use sansnet_apps::static_files::{self, MAX_QUEUED, Root};
use sansnet_apps::transfer::{self, Inbox, Once, ReceiveError, Received};
use sansnet_net::{Endpoint, Factory, Listener, ServerConfig, Shutdown, SocketOptions, Transport};

/// Serves `factory` over `R` on a thread; its address, its stop, its end.
fn start<R: Transport>(
    factory: impl Factory,
    shutdown: &Shutdown,
) -> (SocketAddr, JoinHandle<io::Result<()>>) {
    let endpoint = Endpoint::Tcp(SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = Listener::bind(&endpoint, &SocketOptions::default()).expect("bind");
    let Ok(Endpoint::Tcp(addr)) = listener.local_addr() else { panic!("no TCP address") };
    let shutdown = shutdown.clone();
    let server = thread::spawn(move || {
        let config = ServerConfig { read_buffer: transfer::READ_BUFFER, ..ServerConfig::default() };
        R::serve(listener, &config, &shutdown, factory)
    });
    (addr, server)
}

/// One request on its own connection (`Connection: close`): the whole answer.
fn get(addr: SocketAddr, target: &str, extra: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
    c.write_all(req.as_bytes()).expect("write");
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).expect("read");
    reply
}

/// The head as text, and the body.
fn split(mut reply: Vec<u8>) -> (String, Vec<u8>) {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let body = reply.split_off(end);
    (String::from_utf8_lossy(&reply).into_owned(), body)
}

fn static_files_over<R: Transport>() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("hello.txt"), b"hello, world\n").expect("write");
    let big: Vec<u8> = (0..3 * MAX_QUEUED + 1234).map(|i| (i % 251) as u8).collect();
    fs::write(dir.path().join("big.bin"), &big).expect("write");
    let root = Root::new(dir.path()).expect("root");
    let shutdown = Shutdown::new();
    let (addr, server) =
        start::<R>(static_files::factory::<R>(root, Default::default()), &shutdown);

    let (head, body) = split(get(addr, "/hello.txt", ""));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{}: {head}", R::NAME);
    assert!(head.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{head}");
    assert_eq!(body, b"hello, world\n", "{}", R::NAME);

    let (head, body) = split(get(addr, "/hello.txt", "Range: bytes=7-11\r\n"));
    assert!(head.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{}: {head}", R::NAME);
    assert!(head.contains("Content-Range: bytes 7-11/13\r\n"), "{head}");
    assert_eq!(body, b"world", "{}", R::NAME);

    let (head, body) = split(get(addr, "/big.bin", ""));
    assert!(head.contains(&format!("Content-Length: {}\r\n", big.len())), "{head}");
    assert!(body == big, "{}: the big file differs", R::NAME);

    shutdown.trigger();
    server.join().expect("server thread").expect("served");
}

/// Every driver performs splices: an application that answers with a
/// splice of a file where the connection says it can (and with `no
/// splice` where it cannot) gets the file's bytes to the client. Fails if
/// a driver silently leaves the body to the application's copy.
fn splices_over<R: Transport>() {
    use sansnet_proto::Source;
    use sansnet_proto::http::{Event, ResponseBody, ServerConn};
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 249) as u8).collect();
    let path = dir.path().join("spliced.bin");
    fs::write(&path, &data).expect("write");
    let file = Arc::new(fs::File::open(&path).expect("open"));
    let len = data.len() as u64;
    let factory = move |now, _: &str| {
        let file = file.clone();
        let app = move |conn: &mut ServerConn, ev: Event| {
            if ev != Event::End {
                return;
            }
            if !conn.can_splice() {
                let _ = conn.respond(500, &[], "no splice".into());
                return;
            }
            let sent = conn
                .send_response(200, &[], ResponseBody::Length(len - 10))
                .and_then(|()| conn.send_splice(Source::new(file.clone()), 10, len - 10))
                .and_then(|()| conn.finish());
            sent.expect("a splice");
        };
        (ServerConn::new(Default::default(), now), app)
    };
    let shutdown = Shutdown::new();
    let (addr, server) = start::<R>(factory, &shutdown);
    let (head, body) = split(get(addr, "/", ""));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{}: {head}", R::NAME);
    assert!(body == data[10..], "{}: the spliced body differs", R::NAME);
    shutdown.trigger();
    server.join().expect("server thread").expect("served");
}

fn receive_over<R: Transport>() {
    let (inbox_dir, src) =
        (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let path = src.path().join("data.bin");
    fs::write(&path, &data).expect("write");
    let inbox = Arc::new(Inbox::open(inbox_dir.path(), false).expect("inbox"));
    let quiet = |_: &str, _: &Result<Received, ReceiveError>| {};
    // One connection, then the server stops by itself.
    let shutdown = Shutdown::new();
    let once = Arc::new(Once::new(quiet, shutdown.clone()));
    let factory = transfer::receiver(inbox, Default::default(), once.clone(), R::BLOCKING);
    let (addr, server) = start::<R>(factory, &shutdown);

    let endpoint = Endpoint::Tcp(addr);
    let config = ServerConfig::default();
    let sent = transfer::send_file::<R, _>(
        &path,
        &endpoint,
        &config,
        Duration::from_secs(20),
        |_, _| (),
        None,
    )
    .expect("sent");
    assert!(sent.verified, "{}", R::NAME);
    assert_eq!((sent.name.as_str(), sent.size), ("data.bin", data.len() as u64));
    assert_eq!(sent.hash.to_hex().to_string(), blake3::hash(&data).to_hex().to_string());

    server.join().expect("server thread").expect("served");
    let (_peer, outcome) = once.take().expect("an outcome");
    let received = Received { name: "data.bin".into(), size: data.len() as u64 };
    assert_eq!(outcome, Ok(received), "{}", R::NAME);
    assert!(fs::read(inbox_dir.path().join("data.bin")).expect("stored") == data);
    let left: Vec<_> = fs::read_dir(inbox_dir.path()).expect("list").collect();
    assert_eq!(left.len(), 1, "{}: no partial file or note is left", R::NAME);
}

/// A test of `$check` on each runtime, in a module named after it.
macro_rules! on_each_runtime {
    ($check:ident) => {
        mod $check {
            #[test]
            fn std() {
                super::$check::<sansnet_std::Runtime>();
            }
            #[test]
            fn smol() {
                super::$check::<sansnet_smol::Runtime>();
            }
            #[test]
            fn async_std() {
                super::$check::<sansnet_async_std::Runtime>();
            }
            #[test]
            fn tokio() {
                super::$check::<sansnet_tokio::Runtime>();
            }
        }
    };
}

on_each_runtime!(static_files_over);
on_each_runtime!(receive_over);
on_each_runtime!(splices_over);
