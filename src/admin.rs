//! `orderly keys`: API keys from the command line, on whichever database
//! `DATABASE_URL` names. Every running instance on that database picks a
//! change up within seconds.

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};

use std::path::Path;

use crate::config::{CommonSettings, DatabaseTarget, KeysCommand};
use crate::domain::ApiKey;
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
