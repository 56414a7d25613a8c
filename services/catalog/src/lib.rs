//! catalog service
