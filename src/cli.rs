//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Disaster-recovery runbooks as code.
#[derive(Debug, Parser)]
#[command(name = "drctl", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check runbooks: syntax, fields, graph, templates, action inputs. Exit 0 when clean,
    /// 2 on errors, 1 on warnings with --strict.
    Validate {
        /// Runbook files, or folders searched for *.yaml and *.yml.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
        /// Treat warnings as failures (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Draw a runbook's steps and their dependencies.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Show what a run would do with these params, without doing any of it.
    Plan {
        file: PathBuf,
        /// A parameter, `key=value` (lists and maps as JSON). Repeat for each.
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// List the actions of this build, or show one action's parameters.
    Actions {
        /// An action name, such as postgres.promote.
        name: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiagFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
    Text,
}
