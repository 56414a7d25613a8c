//! Generated types of the marketplace contracts (`proto/marketplace/**`).
//!
//! The module tree mirrors the protobuf packages. Every message has canonical proto3 JSON serde
//! impls (pbjson: lowerCamelCase names, int64 as strings, RFC 3339 timestamps), so the gateway
//! serves exactly the JSON mapping partners expect. [`FILE_DESCRIPTOR_SET`] feeds gRPC reflection.
#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    rust_2018_idioms
)]
// Generated code: lints are relaxed only in this crate.

pub use pbjson_types;
pub use prost;
pub use tonic;

/// Encoded `FileDescriptorSet` of every marketplace contract (for reflection and transcoding).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("marketplace_descriptor");

/// Google API annotations (`google.api.http`) referenced by the contracts.
pub mod google {
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
        include!(concat!(env!("OUT_DIR"), "/google.api.serde.rs"));
    }
}

/// Marketplace packages.
pub mod marketplace {
    macro_rules! package {
        ($name:ident, $file:literal) => {
            pub mod $name {
                pub mod v1 {
                    include!(concat!(env!("OUT_DIR"), "/marketplace.", $file, ".v1.rs"));
                    include!(concat!(
                        env!("OUT_DIR"),
                        "/marketplace.",
                        $file,
                        ".v1.serde.rs"
                    ));
                }
            }
        };
    }
    package!(common, "common");
    package!(catalog, "catalog");
    package!(ordering, "ordering");
    package!(provisioning, "provisioning");
    package!(notification, "notification");
    package!(events, "events");
    package!(gateway, "gateway");
}

pub use marketplace::{catalog, common, events, gateway, notification, ordering, provisioning};

pub mod limits;
pub mod webhooks;
