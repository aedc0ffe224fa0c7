//! The hello server on tokio. The four transports' examples differ only in
//! the `use ... as rt` line: that line is how a program changes runtime.
//!
//! Run: `cargo run -p sansnet-tokio --example hello_tokio -- 127.0.0.1:8080`

use sansnet_tokio as rt;

use sansnet_proto::http::{Event, Limits, ServerConn};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = rt::Listener::bind(&addr.parse()?, &rt::SocketOptions::default())?;
    println!("listening on {}", listener.local_addr()?);
    rt::serve(listener, &rt::ServerConfig::default(), &rt::Shutdown::new(), |now, _peer: &str| {
        let app = |conn: &mut ServerConn, event: Event| {
            if let Event::End = event {
                let _ = conn.respond(200, &[("Content-Type", b"text/plain")], "hello\n".into());
            }
        };
        (ServerConn::new(Limits::default(), now), app)
    })
}
