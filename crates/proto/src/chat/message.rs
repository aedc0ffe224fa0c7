//! The chat messages: what clients send ([`ClientMessage`]), what the server
//! sends back ([`ServerEvent`]), and the error codes ([`ErrorCode`]).
//!
//! Client messages are decoded from one frame with serde_json; the valid
//! shapes are listed on [`ClientMessage`].
//!
//! Server events are serialised once, as one NDJSON line, with the keys in
//! the order of PROTOCOLS.md §2 (`type` first), so a broadcast is one
//! [`Bytes`] shared by every recipient.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;
use serde::de::{Deserializer, IgnoredAny};

use crate::text::{BadChar, check_name_chars};
use serde::{Deserialize, Serialize, Serializer};

/// The `code` of an `error` event.
///
/// ```
/// use sansnet_proto::chat::ErrorCode;
/// assert_eq!(ErrorCode::FrameTooLarge.as_str(), "frame_too_large");
/// assert!(ErrorCode::BadJson.closes());
/// assert!(!ErrorCode::NameTaken.closes());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not UTF-8, not a sequence of objects, or nested too deeply.
    /// The server closes the connection (framing is lost).
    BadJson,
    /// A frame over the size limit. The server closes the connection.
    FrameTooLarge,
    /// A JSON object that is not a valid message (or not valid now: a
    /// `username` after joining, a bad name). The connection stays open.
    BadMessage,
    /// The name is in use. The connection stays open for another try.
    NameTaken,
    /// A directed message named users that are not in the room. The
    /// connection stays open.
    UnknownUser,
    /// The connection's verified identity (its client certificate) names
    /// someone else than the `username` asked for. The connection stays
    /// open.
    Forbidden,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::Forbidden => "forbidden",
        }
    }

    /// Whether the server closes the connection after sending this error
    /// (`bad_json` and `frame_too_large`: the byte stream cannot be trusted
    /// any more).
    pub fn closes(self) -> bool {
        matches!(self, ErrorCode::BadJson | ErrorCode::FrameTooLarge)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame (or an event line) could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The bytes are not UTF-8: `bad_json`.
    #[error("not UTF-8")]
    NotUtf8,
    /// The bytes are not one JSON value (serde_json's description):
    /// `bad_json`.
    #[error("not valid JSON: {0}")]
    Syntax(String),
    /// A valid JSON value that is not a message (what is wrong with it):
    /// `bad_message`.
    #[error("{0}")]
    Shape(String),
}

impl MessageError {
    /// The error code sent to the client.
    ///
    /// ```
    /// use sansnet_proto::chat::{ClientMessage, ErrorCode};
    /// let e = ClientMessage::parse(br#"{"content": 5}"#).unwrap_err();
    /// assert_eq!(e.code(), ErrorCode::BadMessage);
    /// let e = ClientMessage::parse(br#"{"content" 5}"#).unwrap_err();
    /// assert_eq!(e.code(), ErrorCode::BadJson);
    /// ```
    pub fn code(&self) -> ErrorCode {
        match self {
            MessageError::NotUtf8 | MessageError::Syntax(_) => ErrorCode::BadJson,
            MessageError::Shape(_) => ErrorCode::BadMessage,
        }
    }

    fn shape(what: &str) -> MessageError {
        MessageError::Shape(what.into())
    }
}

/// Decodes `bytes` as a `T`, telling apart "not JSON" from "not a `T`".
///
/// serde_json stops at the first problem: when that is a data error (a
/// wrong type, an unknown key), the rest of the bytes may still be broken
/// JSON, so they are checked once more, without building anything.
fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, MessageError> {
    let text = core::str::from_utf8(bytes).map_err(|_| MessageError::NotUtf8)?;
    serde_json::from_str::<T>(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => MessageError::Shape(e.to_string()),
            Err(syntax) => MessageError::Syntax(syntax.to_string()),
        },
        _ => MessageError::Syntax(e.to_string()),
    })
}

/// A message from a client.
///
/// Client messages are decoded from one frame (one JSON object, as cut by
/// the [`Splitter`](super::Splitter)) with serde_json. The valid shapes are
/// exactly these (keys in any order, no other key, no `null`):
///
/// | object | message |
/// | --- | --- |
/// | `{"username": STRING}` | [`ClientMessage::Join`] |
/// | `{"content": STRING}` | [`ClientMessage::Say`] to everyone else |
/// | `{"content": STRING, "to": [STRING, ...]}` (at least one name) | [`ClientMessage::Say`] to the named users |
/// | `{"list": true}` | [`ClientMessage::List`] |
///
/// Anything else is classified precisely: a frame that is not UTF-8 or not
/// JSON is [`ErrorCode::BadJson`] (fatal: the connection closes); a valid
/// JSON object of another shape (an unknown or repeated key, a wrong type,
/// `null`, `{}`, `"list": false`, `"to": []`, `to` without `content`, two
/// kinds of message in one object) is [`ErrorCode::BadMessage`] (the
/// connection stays open). The name rules (1 to 32 characters, no control
/// characters, nothing invisible...) are checked by the room, which knows
/// its limit; see [`check_username`].
///
/// ```
/// use sansnet_proto::chat::{ClientMessage, ErrorCode};
///
/// assert_eq!(
///     ClientMessage::parse(br#"{"content": "hi", "to": ["bob"]}"#),
///     Ok(ClientMessage::Say { content: "hi".into(), to: Some(vec!["bob".into()]) })
/// );
/// let e = ClientMessage::parse(br#"{"username": "a", "list": true}"#).unwrap_err();
/// assert_eq!(e.code(), ErrorCode::BadMessage);
///
/// let msg = ClientMessage::Join { username: "alice".into() };
/// assert_eq!(&msg.encode()[..], b"{\"username\":\"alice\"}\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{"username": "alice"}`: join the room under this name.
    Join {
        /// The name asked for (not yet checked against the name rules).
        username: String,
    },
    /// `{"content": "hi"}` or `{"content": "hi", "to": ["bob"]}`: say
    /// something to everyone else, or to the named users only.
    Say {
        /// The text.
        content: String,
        /// The recipients of a directed message (never empty).
        to: Option<Vec<String>>,
    },
    /// `{"list": true}`: ask who is in the room.
    List,
}

/// Deserialises a present field; `null` is a type error, unlike with a
/// plain `Option`. Absent fields get `None` from `#[serde(default)]`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Every key a client message may have, each typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    #[serde(default, deserialize_with = "present")]
    username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    content: Option<String>,
    #[serde(default, deserialize_with = "present")]
    to: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    list: Option<bool>,
}

/// A client message to serialise, borrowing from a [`ClientMessage`].
#[derive(Default, Serialize)]
struct RawOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    list: Option<bool>,
}

impl ClientMessage {
    /// Decodes one frame.
    ///
    /// # Errors
    ///
    /// [`MessageError::NotUtf8`] or [`MessageError::Syntax`] (`bad_json`)
    /// when the frame is not a JSON value, [`MessageError::Shape`]
    /// (`bad_message`) when it is one but not one of the message shapes.
    pub fn parse(frame: &[u8]) -> Result<ClientMessage, MessageError> {
        let raw: RawMessage = decode(frame)?;
        match (raw.username, raw.content, raw.to, raw.list) {
            (Some(username), None, None, None) => Ok(ClientMessage::Join { username }),
            (None, Some(content), to, None) => match to {
                Some(to) if to.is_empty() => Err(MessageError::shape("`to` names no user")),
                to => Ok(ClientMessage::Say { content, to }),
            },
            (None, None, None, Some(true)) => Ok(ClientMessage::List),
            (None, None, None, Some(false)) => Err(MessageError::shape("`list` must be true")),
            (None, None, None, None) => Err(MessageError::shape(
                "expected `username`, `content` (with an optional `to`) or `list`",
            )),
            (None, None, Some(_), None) => Err(MessageError::shape("`to` without `content`")),
            _ => Err(MessageError::shape(
                "one message per object: `username`, `content` or `list`, not several",
            )),
        }
    }

    /// The message as a client sends it: one compact JSON object and a
    /// `\n` (the server accepts it with or without the newline).
    pub fn encode(&self) -> Bytes {
        let raw = match self {
            ClientMessage::Join { username } => {
                RawOut { username: Some(username), ..RawOut::default() }
            }
            ClientMessage::Say { content, to } => {
                RawOut { content: Some(content), to: to.as_deref(), ..RawOut::default() }
            }
            ClientMessage::List => RawOut { list: Some(true), ..RawOut::default() },
        };
        line(&raw)
    }
}

/// Serialises `value` as one NDJSON line.
fn line<T: Serialize>(value: &T) -> Bytes {
    // Serialising strings, lists of strings, booleans and unit variants into
    // a Vec cannot fail (serde_json fails only on non-string map keys and
    // I/O errors); the fallback keeps this free of panics all the same.
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// A server event with borrowed fields: what the room serialises (once per
/// event, whatever the number of recipients).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum Wire<'a> {
    Joined {
        username: &'a str,
    },
    Message {
        from: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<&'a [String]>,
    },
    Left {
        username: &'a str,
    },
    Users {
        users: Vec<&'a str>,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
    },
}

impl Wire<'_> {
    /// The event as one NDJSON line.
    pub(super) fn encode(&self) -> Bytes {
        line(self)
    }
}

/// An event from the server, one NDJSON line each. The room builds these
/// lines itself (see [`Room`](super::Room)); this owned form is for clients
/// and tests: [`encode`](ServerEvent::encode) gives the exact bytes the
/// room sends, [`decode`](ServerEvent::decode) reads them back.
///
/// ```
/// use sansnet_proto::chat::{ErrorCode, ServerEvent};
///
/// let ev = ServerEvent::Message { from: "alice".into(), content: "hi".into(), to: None };
/// assert_eq!(&ev.encode()[..], b"{\"type\":\"message\",\"from\":\"alice\",\"content\":\"hi\"}\n");
/// let err = ServerEvent::Error { code: ErrorCode::NameTaken, message: "taken".into() };
/// assert_eq!(
///     &err.encode()[..],
///     b"{\"type\":\"error\",\"code\":\"name_taken\",\"message\":\"taken\"}\n"
/// );
/// assert_eq!(ServerEvent::decode(&err.encode()), Ok(err));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerEvent {
    /// `{"type":"joined","username":"alice"}`: to every member, the newcomer
    /// included.
    Joined {
        /// Who joined.
        username: String,
    },
    /// `{"type":"message","from":"alice","content":"hi"}`, with
    /// `"to":["bob"]` after `content` for a directed message.
    Message {
        /// The sender.
        from: String,
        /// The text.
        content: String,
        /// The recipients of a directed message (those in the room).
        #[serde(default)]
        to: Option<Vec<String>>,
    },
    /// `{"type":"left","username":"alice"}`: to every remaining member.
    Left {
        /// Who left.
        username: String,
    },
    /// `{"type":"users","users":["alice","bob"]}`: the members, sorted.
    Users {
        /// The names, sorted by code point.
        users: Vec<String>,
    },
    /// `{"type":"error","code":"name_taken","message":"..."}`.
    Error {
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerEvent {
    fn wire(&self) -> Wire<'_> {
        match self {
            ServerEvent::Joined { username } => Wire::Joined { username },
            ServerEvent::Message { from, content, to } => {
                Wire::Message { from, content, to: to.as_deref() }
            }
            ServerEvent::Left { username } => Wire::Left { username },
            ServerEvent::Users { users } => {
                Wire::Users { users: users.iter().map(String::as_str).collect() }
            }
            ServerEvent::Error { code, message } => Wire::Error { code: *code, message },
        }
    }

    /// The event as the server sends it: one JSON object and `\n`.
    pub fn encode(&self) -> Bytes {
        self.wire().encode()
    }

    /// Decodes one event line (the trailing newline is optional).
    ///
    /// # Errors
    ///
    /// [`MessageError::NotUtf8`] or [`MessageError::Syntax`] when the line is
    /// not JSON, [`MessageError::Shape`] when it is not an event.
    pub fn decode(line: &[u8]) -> Result<ServerEvent, MessageError> {
        decode(line)
    }
}

impl Serialize for ServerEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(s)
    }
}

/// Why a user name is refused (`bad_message`; see [`check_username`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameError {
    /// Empty, or over the limit (in characters).
    #[error("a username is 1 to {0} characters")]
    Length(usize),
    /// A character no name may hold ([`crate::text::check_name_chars`]).
    #[error("a username may not hold {0}")]
    Char(BadChar),
    /// Shaped like what a member without a name is called
    /// ([`looks_like_peer`]).
    #[error("a username may not look like a peer address (what a member without a name is called)")]
    PeerLike,
}

/// Checks a user name: 1 to `max_chars` characters (Unicode scalar values,
/// not bytes), none of the characters no name may hold
/// ([`crate::text::check_name_chars`]: control, bidirectional control,
/// separator, invisible; no whitespace at either end), and not shaped like
/// a peer address ([`looks_like_peer`]). Whether it looks like a name in
/// use is the room's to say ([`crate::text::name_keys`]).
///
/// # Errors
///
/// The first rule broken.
///
/// ```
/// use sansnet_proto::chat::{UsernameError, check_username};
/// use sansnet_proto::text::BadChar;
///
/// assert_eq!(check_username("zoë", 32), Ok(()));
/// assert_eq!(check_username("abcd", 3), Err(UsernameError::Length(3)));
/// assert_eq!(check_username("a\u{2028}b", 32), Err(UsernameError::Char(BadChar::Separator)));
/// assert_eq!(check_username("127.0.0.1:1234", 32), Err(UsernameError::PeerLike));
/// ```
pub fn check_username(name: &str, max_chars: usize) -> Result<(), UsernameError> {
    let n = name.chars().take(max_chars.saturating_add(1)).count();
    if n == 0 || n > max_chars {
        return Err(UsernameError::Length(max_chars));
    }
    check_name_chars(name).map_err(UsernameError::Char)?;
    if looks_like_peer(name) {
        return Err(UsernameError::PeerLike);
    }
    Ok(())
}

/// Whether `name` is shaped like what the room calls a member that sent no
/// name: a socket address (`127.0.0.1:1234`, `[::1]:5`), an IP address,
/// `unix` (a Unix socket peer), `?` (unknown), any of these followed by
/// `#` and digits (the room's second choice), or `#` and digits alone.
///
/// ```
/// use sansnet_proto::chat::looks_like_peer;
///
/// for peer in ["127.0.0.1:1234", "[::1]:5", "::1", "10.0.0.1", "unix", "unix#7", "127.0.0.1:9#12", "#3"] {
///     assert!(looks_like_peer(peer), "{peer}");
/// }
/// for name in ["alice", "host:80", "1.2.3", "unix2", "#", "a#1"] {
///     assert!(!looks_like_peer(name), "{name}");
/// }
/// ```
pub fn looks_like_peer(name: &str) -> bool {
    let base = match name.rsplit_once('#') {
        Some((base, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    };
    (base.is_empty() && !name.is_empty())
        || matches!(base, "unix" | "?")
        || base.parse::<core::net::SocketAddr>().is_ok()
        || base.parse::<core::net::IpAddr>().is_ok()
}

/// Whether `name` is an acceptable user name under a limit of `max_chars`
/// characters: [`check_username`] passes.
///
/// ```
/// use sansnet_proto::chat::is_valid_name;
/// assert!(is_valid_name("zoë", 3));
/// assert!(!is_valid_name("", 32));
/// assert!(!is_valid_name("a\tb", 32));
/// assert!(!is_valid_name("abcd", 3));
/// assert!(!is_valid_name("vic\u{200b}tim", 32));
/// ```
pub fn is_valid_name(name: &str, max_chars: usize) -> bool {
    check_username(name, max_chars).is_ok()
}
