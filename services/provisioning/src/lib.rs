//! provisioning service
