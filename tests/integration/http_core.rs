//! The HTTP core end to end: vectors, splits, differential, linear bound, timers.
