//! A Crossplane composition function that composes one GitLab runner per CPU
//! architecture: a provider-helm `Release` of the `gitlab-runner` chart per
//! architecture, pinned with `kubernetes.io/arch`, and a patch that lets a
//! shared Karpenter `NodePool` launch every architecture of the fleet.
//!
//! The crate keeps three layers apart. [`proto`] and [`protocol`] speak the
//! function protocol; [`fleet`] contains the domain and never imports gRPC types;
//! [`function`] joins the two, and [`server`] and [`render`] run it.

pub mod fleet;
pub mod function;
pub mod proto;
pub mod protocol;
pub mod render;
pub mod server;
