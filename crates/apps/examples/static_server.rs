//! A static file server: `cargo run -p sansnet-apps --example static_server -- [DIR] [ADDR]`.
//! On another runtime: change the `use ... as rt` line (sansnet_std, sansnet_async_std).

use sansnet_smol as rt;

use sansnet_apps::static_files::{self, Root};
use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown, SocketOptions};
use sansnet_proto::http::Limits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = Root::new(args.next().unwrap_or_else(|| ".".into()))?;
    let endpoint: Endpoint = args.next().as_deref().unwrap_or("127.0.0.1:8080").parse()?;
    let listener = Listener::bind(&endpoint, &SocketOptions::default())?;
    println!("serving {} on http://{}/", root.path().display(), listener.local_addr()?);
    let factory = static_files::factory::<rt::Runtime>(root, Limits::default());
    rt::serve(listener, &ServerConfig::default(), &Shutdown::new(), factory)?;
    Ok(())
}
