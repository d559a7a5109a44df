//! End-to-end tests of the `drctl` binary. One test binary (ripgrep's pattern); each
//! module covers one command.

mod cli;
