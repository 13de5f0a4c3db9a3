//! `orderly keys`: API keys from the command line, on whichever database
//! `DATABASE_URL` names. Every running instance on that database picks a
//! change up within seconds.

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};

use std::path::Path;

use crate::app::events::PrivateReceivers;
use crate::config::{CommonSettings, DatabaseTarget, KeysCommand, WebhooksCommand};
use crate::domain::{ApiKey, Cursor, Endpoint, NewEndpoint, PageRequest};
use crate::startup::open_app;
use crate::storage;

pub async fn keys(settings: &CommonSettings, action: &KeysCommand) -> anyhow::Result<()> {
    let app = open_app(settings).await?;
    let access = app.access();
    match action {
        KeysCommand::Create { role, name } => {
            let (key, secret) = access.create_key(*role, name.clone()).await?;
            // The key alone on standard output, for `KEY=$(orderly keys create ...)`.
            println!("{}", secret.expose());
            eprintln!(
                "created API key {} ({}{}); it is shown only this once, so store it now",
                key.id,
                key.role.as_str(),
                labelled(&key.name)
            );
        }
        KeysCommand::List => {
            let keys = access.list_keys().await?;
            println!("{}", table(&keys));
        }
        KeysCommand::ForgetRevoked => {
            let forgotten = access.forget_revoked_keys().await?;
            let open = access.is_open();
            eprintln!(
                "forgot {forgotten} revoked API key(s); {}",
                match open {
                    true => "no key is left: the API runs open again where anonymous access is allowed (loopback, or --allow-anonymous)",
                    false => "active keys remain: the API stays closed",
                }
            );
        }
        KeysCommand::Revoke { id } => {
            let key = access
                .revoke_key(*id)
                .await
                .with_context(|| format!("could not revoke API key {id}"))?;
            eprintln!(
                "revoked API key {} ({}{}) at {}; every instance refuses it within seconds",
                key.id,
                key.role.as_str(),
                labelled(&key.name),
                time(key.revoked_at)
            );
        }
    }
    Ok(())
}

/// `orderly webhooks`: endpoints from the command line. Every instance on
/// the database delivers to an endpoint added here within a second.
pub async fn webhooks(settings: &CommonSettings, action: &WebhooksCommand) -> anyhow::Result<()> {
    let mut app = open_app(settings).await?;
    match action {
        WebhooksCommand::Add {
            url,
            events,
            allow_private,
        } => {
            app.allow_private_receivers(PrivateReceivers(*allow_private));
            let new = NewEndpoint {
                url: url.clone(),
                event_types: events.clone().map(|mut types| {
                    types.sort();
                    types.dedup();
                    types
                }),
            };
            let (endpoint, secret) = app.add_webhook(new).await?;
            // Id and secret alone on standard output, for scripts.
            println!("{} {}", endpoint.id, secret.expose());
            eprintln!(
                "added webhook endpoint {} for {} ({}); its secret is shown only this once, so store it now",
                endpoint.id,
                endpoint.url,
                subscribed(&endpoint)
            );
        }
        WebhooksCommand::List => {
            let mut lines = vec![format!(
                "{:>6}  {:<8}  {:>8}  {:<20}  {:<40}  URL",
                "ID", "STATE", "FAILURES", "CREATED", "EVENTS"
            )];
            let mut page = PageRequest::default();
            loop {
                let endpoints = app.webhooks(&page).await?;
                let more = endpoints.len() > usize::from(page.limit.get());
                for endpoint in endpoints.iter().take(usize::from(page.limit.get())) {
                    lines.push(format!(
                        "{:>6}  {:<8}  {:>8}  {:<20}  {:<40}  {}",
                        endpoint.id,
                        if endpoint.enabled {
                            "enabled"
                        } else {
                            "disabled"
                        },
                        endpoint.failures,
                        time(Some(endpoint.created_at)),
                        subscribed(endpoint),
                        endpoint.url
                    ));
                }
                match (more, endpoints.get(usize::from(page.limit.get()) - 1)) {
                    (true, Some(last)) => page.after = Some(Cursor { after_id: last.id }),
                    _ => break,
                }
            }
            println!("{}", lines.join("\n"));
        }
        WebhooksCommand::Remove { id } => {
            app.remove_webhook(*id)
                .await
                .with_context(|| format!("could not remove webhook endpoint {id}"))?;
            eprintln!("removed webhook endpoint {id} and its deliveries");
        }
    }
    Ok(())
}

fn subscribed(endpoint: &Endpoint) -> String {
    match &endpoint.event_types {
        None => "every event type".into(),
        Some(types) => types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `orderly backup PATH`: a consistent copy of the live SQLite database.
pub async fn backup(settings: &CommonSettings, to: &Path) -> anyhow::Result<()> {
    let source = match settings.database.target()? {
        DatabaseTarget::Sqlite(path) => path,
        DatabaseTarget::Postgres(_) => anyhow::bail!(
            "orderly backup copies the embedded SQLite database; back up PostgreSQL with its own \
             tools (pg_dump, pg_basebackup, or your provider's snapshots)"
        ),
    };
    let to = to.to_owned();
    let report = tokio::task::spawn_blocking(move || {
        storage::sqlite::backup(&source, &to).map(|report| (report, source, to))
    })
    .await
    .context("the backup stopped")?;
    let (report, source, to) = report?;
    eprintln!(
        "backed up {} to {} in {} ms: {} bytes, {} users, {} orders",
        source.display(),
        to.display(),
        report.took.as_millis(),
        report.bytes,
        report.users,
        report.orders
    );
    Ok(())
}

fn labelled(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(", {name:?}")
    }
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".into(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// One line per key, in columns; the name last, as it may hold spaces.
fn table(keys: &[ApiKey]) -> String {
    let mut lines = vec![format!(
        "{:>6}  {:<5}  {:<20}  {:<20}  {:<20}  NAME",
        "ID", "ROLE", "CREATED", "LAST USED", "REVOKED"
    )];
    for key in keys {
        lines.push(format!(
            "{:>6}  {:<5}  {:<20}  {:<20}  {:<20}  {}",
            key.id,
            key.role.as_str(),
            time(Some(key.created_at)),
            time(key.last_used_at),
            time(key.revoked_at),
            key.name
        ));
    }
    lines.join("\n")
}
