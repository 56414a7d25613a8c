//! Identifiers: UUIDv7 (time-ordered) strings for every entity and event.

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is a canonical UUID (what ids look like on the wire).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}
