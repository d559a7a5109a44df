//! End-to-end tests of the `drctl` binary. One test binary (ripgrep's pattern); each
//! module covers one command.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod api;
mod approvals;
mod audit;
mod aws;
mod azure;
mod cli;
mod commands;
mod console;
mod crash;
mod gcp;
mod hooks;
mod hostile;
mod identity;
mod k8s;
mod lab;
mod lab_data;
mod leaks;
mod proposals;
mod remote;
mod rollout;
mod runs;
mod secrets;
mod serve;
mod signed;
mod support;

#[path = "../../connectors/tests/support/receiver.rs"]
mod receiver;

#[path = "../../connectors/tests/support/lab.rs"]
mod lablib;

#[path = "../../connectors/aws/tests/support/moto.rs"]
mod moto;

#[path = "../../connectors/tests/support/fake.rs"]
mod fake;
