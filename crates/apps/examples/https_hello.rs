//! The hello page over TLS: `cargo run -p sansnet-apps --example https_hello -- DIR [ADDR]`,
//! DIR holding `server.pem` and `server-key.pem` (`sansnet cert DIR` makes them), then
//! `curl --cacert DIR/ca.pem https://localhost:8443/`.
//!
//! TLS is a machine around the hello page's machine: the same `serve`, the
//! factory's sessions wrapped. On another runtime: change the `use ... as rt` line.

use sansnet_smol as rt;

use std::path::PathBuf;

use sansnet_apps::hello;
use sansnet_apps::tls::{Limits as TlsLimits, ServerTls, anyone};
use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown, SocketOptions};
use sansnet_proto::http::Limits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: https_hello DIR [ADDR]")?);
    let endpoint: Endpoint = args.next().as_deref().unwrap_or("127.0.0.1:8443").parse()?;
    let tls = ServerTls::load(
        &dir.join("server.pem"),
        &dir.join("server-key.pem"),
        None, // or Some(&dir.join("ca.pem")): only clients with a certificate it signed
        &[b"http/1.1"],
        TlsLimits::default(),
    )?;
    let listener = Listener::bind(&endpoint, &SocketOptions::default())?;
    println!("listening on https://{}/", listener.local_addr()?);
    let factory = tls.wrap(hello::factory(Limits::default()), anyone);
    rt::serve(listener, &ServerConfig::default(), &Shutdown::new(), factory)?;
    Ok(())
}
