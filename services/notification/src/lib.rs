//! notification service
