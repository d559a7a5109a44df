//! `drctl serve`: hosts runs and the HTTP API until SIGTERM or Ctrl-C (see
//! `drctl_server`), and `drctl token create`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use drctl_connectors::Registry;
use drctl_core::Clock as _;
use drctl_engine::RunEnd;
use drctl_engine::clock::SystemClock;
use drctl_evidence::SigningKey;
use drctl_run::Outcome;
use drctl_server::api::{Api, Parts};
use drctl_server::metrics::{Counting, Metrics};
use drctl_server::schedule::notices::Notifier;
use drctl_server::schedule::scheduler::{Fired, Scheduler};
use drctl_server::signer::{Publisher, Signer};
use drctl_server::{Activity, Supervisor};
use tokio_util::sync::CancellationToken;

use super::{engine, open_creating, runtime};
use crate::cli::{EngineArgs, RoleArg};
use crate::commands::print;

/// Where the API listens.
#[derive(Debug)]
pub(crate) struct Listen {
    pub(crate) addr: Option<String>,
    /// Allow an address other than loopback without TLS.
    pub(crate) insecure: bool,
    /// The certificate chain and key to serve TLS with.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    listen: &Listen,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    let config = crate::config::get();
    let serve = config.serve.clone();
    let wanted = listen.addr.as_deref().unwrap_or(&serve.listen);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(wanted)
        .ok()
        .and_then(|mut found| found.next())
        .with_context(|| {
            format!("--listen (or [serve] listen) is `{wanted}`: it must be a host and port, such as 127.0.0.1:7420")
        })?;
    let tls = listen
        .tls
        .clone()
        .or_else(|| serve.tls_cert.clone().zip(serve.tls_key.clone()));
    if !addr.ip().is_loopback() && tls.is_none() && !listen.insecure {
        anyhow::bail!(
            "{addr} is not a loopback address: the API's tokens would cross the network in clear text. \
             Give --tls-cert and --tls-key, put a TLS proxy in front and listen on loopback, or pass --insecure-listen"
        );
    }
    let acceptor = tls
        .as_ref()
        .map(|(cert, key)| drctl_server::tls::acceptor(cert, key))
        .transpose()?;
    // What the API may start is only as trustworthy as who can change it.
    if let Some(dir) = &serve.runbooks
        && let Err(why) = crate::trust::check(dir)
    {
        anyhow::bail!(
            "[serve] runbooks is {}, but {why}: whoever can change it decides what the API runs. Keep it where operators cannot write it",
            dir.display()
        );
    }
    runtime()?.block_on(async {
        let stop = stop_on_signal()?;
        let store = open_creating(db).await?;
        let clock = Arc::new(SystemClock::new());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let signer = match &serve.signing_key {
            Some(path) => Some(Arc::new(Signer::new(
                SigningKey::load(path).context("[serve] signing_key")?,
                store.clone(),
                clock.clone(),
                publisher(registry, serve.publish_heads.as_ref())?,
            ))),
            None => None,
        };
        let clock_for_signer = clock.clone();
        let metrics = Arc::new(Metrics::new());
        let engine = engine(store.clone(), registry, Some(args), false)
            .with_observer(Arc::new(Counting(metrics.clone())))
            .with_action_slots(serve.max_actions);
        let (printer, counted, poked) = (clock.clone(), metrics.clone(), signer.clone());
        let supervisor = Supervisor::new(
            engine.clone(),
            store.clone(),
            clock.clone(),
            serve.clone(),
            move |activity| {
                count(&counted, &activity);
                // A run that ended here: its head is signed now.
                if let (Some(signer), Activity::Ended { .. }) = (&poked, &activity) {
                    signer.poke();
                }
                print(&format!("{} {}\n", printer.now(), describe(&activity)));
            },
        );
        // Schedules fire from the runbooks folder; each run they start is driven at once.
        // Its credentials are read now: a missing one stops the server at start, not at
        // the first notice.
        let notifier = Arc::new(
            Notifier::new(&serve.notify, registry, store.clone()).map_err(anyhow::Error::msg)?,
        );
        let scheduling = serve.runbooks.clone().map(|dir| {
            let scheduler = Scheduler::new(
                engine.clone(),
                store.clone(),
                clock.clone(),
                registry.clone(),
                dir,
            )
            .with_notifier(notifier.clone());
            let (stop, every, handle, shown, counted) = (
                stop.clone(),
                serve.schedule_every(),
                supervisor.handle(),
                clock.clone(),
                metrics.clone(),
            );
            tokio::spawn(async move {
                scheduler
                    .run(
                        every,
                        stop,
                        |f| {
                            if let Some(run) = &f.run {
                                handle.submitted(run);
                            }
                            counted.fired(&f.runbook, f.outcome.as_str());
                            print(&format!("{} {}\n", shown.now(), describe_firing(f)));
                        },
                        |e| print(&format!("{} the scheduler stopped short: {e}\n", shown.now())),
                    )
                    .await;
            })
        });
        let api = Api::new(Parts {
            engine,
            store,
            clock,
            registry: registry.clone(),
            config: serve.clone(),
            groups: config.groups.clone(),
            supervisor: supervisor.handle(),
            metrics,
        });
        print(&format!(
            "drctl serve: API on {}://{}, driving runs that need a driver, at most {} runs and {} actions at once; SIGTERM or Ctrl-C hands them back.\n",
            if acceptor.is_some() { "https" } else { "http" },
            listener.local_addr().unwrap_or(addr),
            serve.max_runs,
            serve.max_actions
        ));
        let signing = signer.map(|signer| {
            print(&format!(
                "drctl serve: signing ledger heads with key {}.\n",
                signer.fingerprint()
            ));
            let (stop, every, clock) = (stop.clone(), serve.scan(), clock_for_signer.clone());
            tokio::spawn(async move {
                signer
                    .run(every, stop, |e| {
                        print(&format!("{} cannot sign ledger heads: {e}\n", clock.now()));
                    })
                    .await;
            })
        });
        let until = stop.clone();
        let http = match acceptor {
            Some(acceptor) => tokio::spawn(
                api.serve(drctl_server::tls::TlsListener::new(listener, acceptor), until),
            ),
            None => tokio::spawn(api.serve(listener, until)),
        };
        supervisor.run(stop).await;
        // Requests under way get a moment; a client that never finishes its request
        // (half its headers sent) must not keep the server up, nor its port bound.
        let abort = http.abort_handle();
        match tokio::time::timeout(std::time::Duration::from_secs(5), http).await {
            Ok(done) => done
                .context("the API stopped unexpectedly")?
                .context("the API failed")?,
            Err(_) => {
                abort.abort();
                print("drctl serve: closed the connections that were still open.\n");
            }
        }
        if let Some(scheduling) = scheduling {
            let _ = scheduling.await;
        }
        if let Some(signing) = signing {
            // Its last pass signs the ends of the runs that finished while stopping.
            let _ = signing.await;
        }
        print("drctl serve: stopped; every run it drove was handed back.\n");
        Ok(ExitCode::SUCCESS)
    })
}

/// `drctl token create`: the token once, and the entry for drctl.toml.
pub(crate) fn create_token(name: &str, role: RoleArg, identity: &str) -> anyhow::Result<ExitCode> {
    let role = match role {
        RoleArg::Viewer => "viewer",
        RoleArg::Operator => "operator",
        RoleArg::Approver => "approver",
        RoleArg::Admin => "admin",
    };
    if name.trim().is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || format!("{c:?}").contains("\\u{"))
    {
        anyhow::bail!("NAME must be printable text, not blank");
    }
    // The identity is the actor of everything done with the token: a person's name,
    // never the engine's or a policy's.
    drctl_core::Actor::person(identity).map_err(|e| anyhow::anyhow!("--identity: {e}"))?;
    let token = drctl_server::api::auth::new_token();
    let entry = format!(
        "[[serve.token]]\nname = {name:?}\nrole = \"{role}\"\nidentity = {identity:?}\nsha256 = \"{}\"\n",
        drctl_server::api::auth::digest(&token)
    );
    print(&format!(
        "{token}\n\nThe token above is shown once. Add this to drctl.toml (it holds only the token's SHA-256):\n\n{entry}"
    ));
    Ok(ExitCode::SUCCESS)
}

/// A firing, on one line of the server's log.
fn describe_firing(f: &Fired) -> String {
    let schedule = if f.trigger.is_empty() {
        format!("the schedule of {}", f.runbook)
    } else {
        format!("schedule {} of {}", f.trigger, f.runbook)
    };
    let what = match (&f.run, f.outcome) {
        (Some(run), _) => format!("started run {run}"),
        (None, outcome) => outcome.as_str().to_owned(),
    };
    let why = f
        .reason
        .as_deref()
        .map_or_else(String::new, |r| format!(" ({r})"));
    format!("{schedule}, due {}: {what}{why}", f.nominal)
}

/// What the supervisor did, in the metrics.
fn count(metrics: &Metrics, activity: &Activity) {
    match activity {
        Activity::Driving { why, .. } if why.contains("is gone") || why.contains("expired") => {
            metrics.takeover();
        }
        Activity::Driving { .. } | Activity::ScanFailed(_) => {}
        Activity::Ended { end, .. } => metrics.drive_ended(match end {
            RunEnd::Finished { outcome, .. } => outcome.as_str(),
            RunEnd::Paused(_) => "paused",
            RunEnd::Released => "handed_back",
            RunEnd::LockHeld { .. } => "lock_held",
        }),
        Activity::Failed { .. } => metrics.drive_ended("error"),
    }
}

/// One line per thing the supervisor did.
fn describe(activity: &Activity) -> String {
    match activity {
        Activity::Driving { run, why } => format!("{run}: driving ({why})"),
        Activity::Ended { run, end } => match end {
            RunEnd::Finished {
                outcome: Outcome::Failed { reason },
                ..
            } => format!("{run}: failed: {reason}"),
            RunEnd::Finished { outcome, .. } => format!("{run}: {}", outcome.as_str()),
            RunEnd::Paused(reason) => {
                let next = match super::decide_command(run, reason) {
                    Some(decide) => format!("decide with `{decide}`, then `drctl resume {run}`"),
                    None => format!("`drctl resume {run}` continues it"),
                };
                format!(
                    "{run}: paused: {}; {next}",
                    drctl_engine::projection::describe_pause(reason)
                )
            }
            RunEnd::Released => format!("{run}: handed back"),
            RunEnd::LockHeld { lock, holder } => {
                format!("{run}: lock `{lock}` is held by {holder}")
            }
        },
        Activity::Failed {
            run,
            error,
            retry_in,
        } => format!(
            "{run}: cannot drive it: {error} (trying again in {})",
            drctl_core::format_duration(*retry_in)
        ),
        Activity::ScanFailed(why) => format!("cannot look for runs: {why}"),
    }
}

/// The first SIGTERM or Ctrl-C stops the server gracefully; a second quits at once (the
/// runs' programs go too, and the next start settles what they did).
fn stop_on_signal() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = CancellationToken::new();
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let token = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        print(
            "drctl serve: stopping: running steps get their grace period (signal again to quit now).\n",
        );
        token.cancel();
        let code = tokio::select! {
            _ = interrupt.recv() => 130,
            _ = terminate.recv() => 143,
        };
        drctl_connectors::kill_running_programs();
        std::process::exit(code);
    });
    Ok(stop)
}

/// `drctl key create PATH`: a signing key for `[serve] signing_key`, and its public half
/// for auditors.
pub(crate) fn create_key(path: &Path) -> anyhow::Result<ExitCode> {
    let key = SigningKey::create(path)?;
    print(&format!(
        "Wrote the signing key to {} (readable by you alone). Its public key, for `drctl audit verify --key`:\n\n{}\n\nFingerprint {}. Add to drctl.toml:\n\n[serve]\nsigning_key = {:?}\n",
        path.display(),
        key.public().text(),
        key.public().fingerprint(),
        path
    ));
    Ok(ExitCode::SUCCESS)
}

/// `[serve.publish_heads]`: the webhook action, its URL, and the secret from the
/// environment.
fn publisher(
    registry: &Registry,
    config: Option<&drctl_server::config::PublishHeads>,
) -> anyhow::Result<Option<Publisher>> {
    let Some(config) = config else {
        return Ok(None);
    };
    let action = drctl_core::ActionRegistry::action(registry, "notify.webhook")
        .context("[serve.publish_heads] needs the notify.webhook action")?;
    let hmac_secret = match &config.hmac_secret_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|s| !s.is_empty())
                .with_context(|| {
                    format!("[serve.publish_heads] hmac_secret_env names {var}, which is not set")
                })?,
        ),
        None => None,
    };
    Ok(Some(Publisher {
        action,
        url: config.url.clone(),
        hmac_secret,
    }))
}
