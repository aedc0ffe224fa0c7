//! The chat host (PROTOCOLS.md §2): the core's [`Room`], one
//! [`Hub`](sansnet_proto::Hub) for every connection, on any runtime; and
//! a blocking member connection for clients.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Duration;

use bytes::Bytes;

use sansnet_net::{
    Endpoint, Listener, Mail, ServerConfig, Shutdown, SocketOptions, Stream, Transport,
};
use sansnet_proto::chat::cluster::Notice;
use sansnet_proto::chat::{ClientMessage, ErrorCode, Event, Limits, Room, ServerEvent};
use sansnet_proto::text::escape;
use sansnet_proto::web::{WebConfig, WebEvent, WebHub};
use sansnet_proto::{Hub, Input, Instant, http, ws};

use crate::cluster::Bridge;
use crate::tls::{ClientTls, HubEvent, ServerTls, TlsHub};

/// Serves a chat room with `limits` on `listener` over the runtime `R`
/// until `shutdown` is triggered; the room's events are logged (tracing).
///
/// With `tls`, every connection speaks TLS, and where it requires client
/// certificates a member's name is its certificate's common name
/// (PROTOCOLS.md §5). With `cluster` (a [`Bridge`] already connected to
/// Redis), the room is one room with every other server on it
/// (PROTOCOLS.md §6). With `web`, the room also has a web port: the chat
/// page and its WebSocket, browser members in the same room (PROTOCOLS.md
/// §7; over TLS too with `tls`).
pub fn serve<R: Transport>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    limits: Limits,
    tls: Option<&ServerTls>,
    mut cluster: Option<Bridge>,
    web: Option<Web>,
) -> io::Result<()> {
    let (room, link, mail) = match &mut cluster {
        None => (Room::new(limits), None, Mail::none()),
        Some(b) => {
            let mut room = Room::clustered(limits, b.cluster());
            // The bridge is connected: the room starts with its link up, so
            // that a name taken in the first instants is decided room-wide
            // too (the bridge's own first `Up` then changes nothing).
            let up = Notice::Up.encode();
            room.handle(Instant::ZERO, Input::Message { data: &up });
            (room, Some(b.link()), b.take_mail())
        }
    };
    let on_room = move |room: &mut Room, event: Event| match (event, &link) {
        (Event::Cluster(order), Some(link)) => link.send(order),
        (event, _) => log_event(room, event),
    };
    let ports = Ports { config, shutdown, mail, tls };
    let served = match web {
        None => ports.serve::<R, _>(vec![listener], room, on_room),
        Some(web) => {
            // The web port is the second listener below.
            let page = Bytes::from_static(PAGE.as_bytes());
            let config = WebConfig { port: 1, page, http: web.http, ws: web.ws };
            let hub = WebHub::new(config, room);
            let on_event = move |hub: &mut WebHub<Room>, event| match event {
                WebEvent::Inner(e) => on_room(hub.inner_mut(), e),
                e => log_web_event(e),
            };
            ports.serve::<R, _>(vec![listener, web.listener], hub, on_event)
        }
    };
    // The bridge stops (and gives the room's names back) once the room
    // is gone.
    drop(cluster);
    served
}

/// What serving a room's hub needs besides the hub.
struct Ports<'a> {
    config: &'a ServerConfig,
    shutdown: &'a Shutdown,
    mail: Mail,
    tls: Option<&'a ServerTls>,
}

impl Ports<'_> {
    /// Serves `hub` on `listeners`, through TLS where it is configured.
    fn serve<R: Transport, H: Hub>(
        self,
        listeners: Vec<Listener>,
        hub: H,
        mut on_event: impl FnMut(&mut H, H::Event),
    ) -> io::Result<()> {
        let Ports { config, shutdown, mail, tls } = self;
        match tls {
            None => R::serve_hub(listeners, config, shutdown, hub, on_event, mail),
            Some(tls) => {
                let on_event = move |hub: &mut TlsHub<H>, event| match event {
                    HubEvent::Inner(e) => on_event(hub.inner_mut(), e),
                    e => log_tls_event(e),
                };
                R::serve_hub(listeners, config, shutdown, tls.hub(hub), on_event, mail)
            }
        }
    }
}

/// The chat page (PROTOCOLS.md §7): HTML, CSS and script in one file,
/// nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("page.html");

/// A chat room's web port: where it listens and what it serves there.
#[derive(Debug)]
pub struct Web {
    listener: Listener,
    http: http::Limits,
    ws: ws::Limits,
}

impl Web {
    /// Binds `addr` (`HOST:PORT` or `unix:PATH`) with `opts` for the page
    /// and the WebSocket of a room whose client messages are at most
    /// `limits.max_frame` bytes (the largest WebSocket message), closing a
    /// WebSocket whose peer does not answer our close within
    /// `close_timeout`.
    pub fn bind(
        addr: &str,
        opts: &SocketOptions,
        limits: &Limits,
        close_timeout: Duration,
    ) -> io::Result<Web> {
        let endpoint: Endpoint = addr.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("invalid address {addr:?}: {e}"))
        })?;
        let listener = Listener::bind(&endpoint, opts)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {endpoint}: {e}")))?;
        let ws = ws::Limits::default()
            .with_max_frame(limits.max_frame)
            .with_max_message(limits.max_frame)
            .with_close_timeout(close_timeout);
        // The page takes no body: one is read (to keep the connection in
        // step) only up to a message's size.
        let http = http::Limits::default().with_max_body(limits.max_frame as u64);
        Ok(Web { listener, http, ws })
    }

    /// The bound address (with the port the system picked for port 0).
    pub fn local_addr(&self) -> io::Result<Endpoint> {
        self.listener.local_addr()
    }
}

/// Logs what happened on a room's web port.
pub fn log_web_event<E>(event: WebEvent<E>) {
    match event {
        WebEvent::Inner(_) => {}
        WebEvent::Request { conn, method, target, status } => {
            tracing::info!("web {}: {} {} {status}", conn.0, escape(&method), escape(&target))
        }
        WebEvent::Rejected { conn, error } => tracing::info!("web {}: {error}", conn.0),
        WebEvent::Closed { conn, code } => match code {
            Some(code) => tracing::debug!("web {}: closed ({code})", conn.0),
            None => tracing::debug!("web {}: closed", conn.0),
        },
        WebEvent::Failed { conn, error } => {
            tracing::info!("web {}: {error} (closed with {})", conn.0, error.close_code().0)
        }
    }
}

/// Logs a TLS room's own events (its inner hub's are the caller's).
pub fn log_tls_event<E>(event: HubEvent<E>) {
    match event {
        HubEvent::Inner(_) => {}
        HubEvent::Established { conn, peer } => match peer.name {
            Some(name) => tracing::info!("connection {}: certificate {}", conn.0, escape(&name)),
            None => tracing::debug!("connection {}: {} {}", conn.0, peer.version, peer.cipher),
        },
        HubEvent::Failed { conn, error } => tracing::warn!("connection {}: {error}", conn.0),
    }
}

/// Logs one of the room's events.
pub fn log_event(_room: &mut Room, event: Event) {
    match event {
        Event::Joined { name, .. } => tracing::info!("{name} joined"),
        Event::Left { name, reason, .. } => tracing::info!("{name} left ({reason:?})"),
        Event::Error { conn, code, message } => {
            tracing::info!("connection {}: {}: {message}", conn.0, code.as_str())
        }
        Event::Evicted { conn, unsent } => {
            tracing::warn!("connection {} too slow ({unsent} bytes unsent): disconnected", conn.0)
        }
        // A lone room asks nothing of a bridge.
        Event::Cluster(_) => {}
        Event::NodeSeen { node } => tracing::info!("node {} joined the room", escape(&node)),
        Event::NodeGone { node, members } => {
            tracing::warn!("node {} is gone ({members} members left)", escape(&node))
        }
        Event::Dropped { messages } => {
            tracing::warn!("{messages} messages could not reach the other servers (link down)")
        }
    }
}

/// A chat member's side of a blocking connection: what it sends.
#[derive(Debug)]
pub struct Member(Stream);

impl Member {
    /// Connects to `endpoint` (within `timeout`), over TLS with `tls`, and
    /// asks to join as `name`. Returns the member and the events that arrive, in order,
    /// until the server closes (an unreadable event is `Ok(None)`).
    pub fn join(
        endpoint: &Endpoint,
        opts: &SocketOptions,
        timeout: Duration,
        name: &str,
        tls: Option<&ClientTls>,
    ) -> io::Result<(Member, impl Iterator<Item = io::Result<Option<ServerEvent>>> + use<>)> {
        let mut stream = opts.connect(endpoint, Some(timeout))?;
        let mut bridge = None;
        if let Some(tls) = tls {
            let (plain, b) = tls.bridge(stream)?;
            (stream, bridge) = (plain, Some(b));
        }
        let reader = BufReader::new(Reader(stream.try_clone()?));
        stream.write_all(&ClientMessage::Join { username: name.to_owned() }.encode())?;
        let events = reader.split(b'\n').map(|line| Ok(ServerEvent::decode(&line?).ok()));
        // A TLS failure that ended the stream ends the events with it.
        let failure = std::iter::from_fn(move || {
            let e = bridge.take()?.failure()?;
            Some(Err(io::Error::other(e)))
        });
        let events = events.chain(failure);
        Ok((Member(stream), events))
    }

    /// Sends `message`.
    pub fn send(&mut self, message: &ClientMessage) -> io::Result<()> {
        self.0.write_all(&message.encode())
    }

    /// Leaves: ends our side; the server says goodbye to the others and
    /// closes, which ends the events.
    pub fn leave(self) {
        let _ = self.0.shutdown(std::net::Shutdown::Write);
    }
}

/// `sansnet chat join`: joins at `endpoint` as [`Member::join`] does,
/// then runs a terminal member ([`converse`]) on stdin and stdout.
pub fn join_terminal(
    endpoint: &Endpoint,
    opts: &SocketOptions,
    timeout: Duration,
    name: &str,
    tls: Option<&ClientTls>,
) -> Result<(), MemberError> {
    let (member, events) = Member::join(endpoint, opts, timeout, name, tls)
        .map_err(|error| MemberError::Connect { endpoint: endpoint.to_string(), error })?;
    let input = BufReader::new(io::stdin());
    converse(member, events, name, input, &mut io::stdout(), &mut io::stderr())
}

/// How a terminal member's session ended badly.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The connection could not be made.
    #[error("cannot connect to {endpoint}: {error}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        error: io::Error,
    },
    /// The connection failed (a reset, a TLS failure).
    #[error("reading from the server: {0}")]
    Read(io::Error),
    /// The server refused the name before we joined.
    #[error("cannot join as {name:?}: {code}: {message}")]
    Refused {
        /// The name asked for.
        name: String,
        /// `name_taken`, `bad_message` or `forbidden`.
        code: ErrorCode,
        /// The server's words, escaped.
        message: String,
    },
    /// Writing to `out` failed.
    #[error("stdout: {0}")]
    Output(io::Error),
}

/// A terminal member, as `sansnet chat join` runs one: each line of
/// `input` is [`typed`] and sent (on a thread of its own, so that the
/// session ends as soon as the server closes, even while nobody types),
/// and every event is written to `out` as [`shown`] shows it, one line
/// each; errors and warnings go to `err`. An `error` before `me` joined (a
/// taken, invalid or forbidden name) ends the session with it.
pub fn converse(
    mut member: Member,
    events: impl Iterator<Item = io::Result<Option<ServerEvent>>>,
    me: &str,
    input: impl BufRead + Send + 'static,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), MemberError> {
    std::thread::spawn(move || {
        for line in input.lines() {
            let Ok(line) = line else { break };
            let Some(msg) = typed(&line) else { break };
            if member.send(&msg).is_err() {
                return;
            }
        }
        member.leave();
    });
    let mut joined = false;
    for event in events {
        let Some(event) = event.map_err(MemberError::Read)? else {
            let _ = writeln!(err, "warning: unreadable event from the server");
            continue;
        };
        match &event {
            ServerEvent::Joined { username } => joined |= username == me,
            ServerEvent::Error { code, message } => {
                let refusal = matches!(
                    code,
                    ErrorCode::NameTaken | ErrorCode::BadMessage | ErrorCode::Forbidden
                );
                if !joined && refusal {
                    let (name, message) = (me.to_owned(), escape(message).to_string());
                    return Err(MemberError::Refused { name, code: *code, message });
                }
                let _ = writeln!(err, "{}", shown(&event));
                continue;
            }
            _ => {}
        }
        writeln!(out, "{}", shown(&event))
            .and_then(|()| out.flush())
            .map_err(MemberError::Output)?;
    }
    Ok(())
}

/// What a line typed at a terminal client means: `/quit` (`None`) leaves,
/// `/list` asks who is here, `/msg bob,carol text` speaks to some, any
/// other line to everyone.
pub fn typed(line: &str) -> Option<ClientMessage> {
    let line = line.trim_end_matches('\r');
    if line == "/quit" {
        return None;
    }
    if line == "/list" {
        return Some(ClientMessage::List);
    }
    if let Some(rest) = line.strip_prefix("/msg ") {
        let (to, content) = rest.split_once(' ').unwrap_or((rest, ""));
        let to = to.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect();
        return Some(ClientMessage::Say { content: content.to_owned(), to: Some(to) });
    }
    Some(ClientMessage::Say { content: line.to_owned(), to: None })
}

/// How a terminal client shows `event`: `* NAME joined`, `* NAME left`,
/// `[FROM] TEXT`, `* here: A, B`, `! CODE: MESSAGE`, with every text from
/// the peers escaped ([`escape`]): always one line, with no control
/// character, so a member cannot fake another event, clear the screen or
/// set the window title.
pub fn shown(event: &ServerEvent) -> String {
    match event {
        ServerEvent::Joined { username } => format!("* {} joined", escape(username)),
        ServerEvent::Left { username } => format!("* {} left", escape(username)),
        ServerEvent::Message { from, content, .. } => {
            format!("[{}] {}", escape(from), escape(content))
        }
        ServerEvent::Users { users } => format!("* here: {}", escape(&users.join(", "))),
        ServerEvent::Error { code, message } => format!("! {code}: {}", escape(message)),
    }
}

/// `Read` for a connected [`Stream`] (TCP or Unix).
struct Reader(Stream);

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansnet_proto::chat::ErrorCode;

    #[test]
    fn peer_text_is_shown_on_one_line() {
        let evil = "\u{1b}[2J\u{7}\r\n* admin joined";
        let say = ServerEvent::Message { from: "m".into(), content: evil.into(), to: None };
        assert_eq!(shown(&say), r"[m] \u{1b}[2J\u{7}\r\n* admin joined");
        let users = ServerEvent::Users { users: vec!["a".into(), "b\nc".into()] };
        assert_eq!(shown(&users), r"* here: a, b\nc");
        let left = ServerEvent::Left { username: "x\u{202e}y".into() };
        assert_eq!(shown(&left), r"* x\u{202e}y left");
        let err = ServerEvent::Error { code: ErrorCode::BadMessage, message: "a\nb".into() };
        assert_eq!(shown(&err), r"! bad_message: a\nb");
    }

    #[test]
    fn typed_lines_become_messages() {
        assert_eq!(typed("/quit"), None);
        assert_eq!(typed("/list"), Some(ClientMessage::List));
        assert_eq!(
            typed("hello {there}"),
            Some(ClientMessage::Say { content: "hello {there}".into(), to: None })
        );
        assert_eq!(
            typed("/msg bob,carol hi you"),
            Some(ClientMessage::Say {
                content: "hi you".into(),
                to: Some(vec!["bob".into(), "carol".into()])
            })
        );
    }
}
