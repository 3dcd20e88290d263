//! Helpers of the integration tests.
pub mod fault_proxy;
pub mod moto;
