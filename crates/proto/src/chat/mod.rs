//! Chat (PROTOCOLS.md §2): the JSON frame splitter, the message schema and
//! the Room, a multi-connection machine.
