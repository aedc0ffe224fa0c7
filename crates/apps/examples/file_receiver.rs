//! A file receiver: `cargo run -p sansnet-apps --example file_receiver -- [DIR] [ADDR]`, then
//! `sansnet file send PATH ADDR`. On another runtime: change the `use ... as rt` line.

use sansnet_smol as rt;

use std::sync::Arc;

use sansnet_apps::transfer::{self, Inbox, ReceiveError, Received};
use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown, SocketOptions, Transport};
use sansnet_proto::file::Limits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let inbox = Arc::new(Inbox::open(args.next().unwrap_or_else(|| ".".into()), false)?);
    let endpoint: Endpoint = args.next().as_deref().unwrap_or("127.0.0.1:9000").parse()?;
    let listener = Listener::bind(&endpoint, &SocketOptions::default())?;
    println!("receiving into {} on {}", inbox.path().display(), listener.local_addr()?);
    let events = |peer: &str, outcome: &Result<Received, ReceiveError>| match outcome {
        Ok(file) => println!("{peer}: received {} ({} bytes)", file.name, file.size),
        Err(e) => println!("{peer}: {e}"),
    };
    let io = rt::Runtime::BLOCKING;
    let factory = transfer::receiver(inbox, Limits::default(), Arc::new(events), io);
    let config = ServerConfig { read_buffer: transfer::READ_BUFFER, ..ServerConfig::default() };
    rt::serve(listener, &config, &Shutdown::new(), factory)?;
    Ok(())
}
