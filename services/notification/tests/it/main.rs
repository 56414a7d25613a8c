//! Integration tests of the notification service on both backends (SQLite always, PostgreSQL
//! when reachable), against a real SMTP server (the sandbox sink) and real HTTP receivers.

mod email;
mod feed;
mod harness;
mod parsers;
mod receiver;
mod urls;
mod webhooks;
