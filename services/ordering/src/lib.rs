//! ordering service
