//! Helpers of the integration tests.
pub mod moto;
pub mod strip_proxy;
