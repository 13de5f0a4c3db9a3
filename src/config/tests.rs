use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::*;

fn serve_settings(args: &[&str]) -> Settings {
    match Cli::parse_from(args).task() {
        Task::Serve(settings) => *settings,
        other => panic!("{args:?} is not serving: {other:?}"),
    }
}

#[test]
fn sqlite_urls_keep_relative_and_absolute_paths() {
    assert_eq!(
        DatabaseTarget::parse("sqlite://orderly.db").unwrap(),
        DatabaseTarget::Sqlite("orderly.db".into())
    );
    assert_eq!(
        DatabaseTarget::parse("sqlite:///var/lib/orderly.db").unwrap(),
        DatabaseTarget::Sqlite("/var/lib/orderly.db".into())
    );
}

#[test]
fn unknown_schemes_are_rejected_with_a_sentence() {
    let err = DatabaseTarget::parse("mysql://localhost/db").unwrap_err();
    assert!(
        err.to_string().contains("postgres:// or sqlite://"),
        "{err}"
    );
    assert!(DatabaseTarget::parse("sqlite://").is_err());
}

#[test]
fn postgres_urls_are_not_printed() {
    let target = DatabaseTarget::parse("postgres://u:secret@h/db").unwrap();
    assert!(!format!("{target:?}").contains("secret"));
}

#[test]
fn serve_is_the_default_command_and_takes_its_flags_before_or_after_the_word_serve() {
    let plain = serve_settings(&["orderly", "--bind", "127.0.0.1:9000"]);
    assert_eq!(plain.http.bind.to_string(), "127.0.0.1:9000");
    let named = serve_settings(&["orderly", "serve", "--bind", "localhost:9001"]);
    assert_eq!(named.http.bind.to_string(), "localhost:9001");
    assert!(matches!(
        Cli::parse_from(["orderly", "migrate"]).task(),
        Task::Migrate(
            _,
            MigrateArgs {
                adopt: false,
                dry_run: false
            }
        )
    ));
}

#[test]
fn migrate_adopts_with_a_dry_run_only_beside_adopt() {
    assert!(matches!(
        Cli::parse_from(["orderly", "migrate", "--adopt", "--dry-run"]).task(),
        Task::Migrate(
            _,
            MigrateArgs {
                adopt: true,
                dry_run: true
            }
        )
    ));
    let alone = Cli::try_parse_from(["orderly", "migrate", "--dry-run"]).unwrap_err();
    assert!(alone.to_string().contains("--adopt"), "{alone}");
}

#[test]
fn time_limits_are_read_as_milliseconds_once() {
    let settings = serve_settings(&[
        "orderly",
        "--request-timeout-ms",
        "250",
        "--db-query-timeout-ms",
        "1500",
        "--pool-timeout-ms",
        "0",
    ]);
    assert_eq!(settings.http.request_timeout, Duration::from_millis(250));
    assert_eq!(settings.postgres.query_timeout, Duration::from_millis(1500));
    assert_eq!(settings.database.pool_timeout, Duration::ZERO);
    assert_eq!(settings.key_purge_interval, Duration::from_secs(600));
    for refused in [
        ["orderly", "--db-query-timeout-ms", "0"],
        ["orderly", "--request-timeout-ms", "1.5"],
        ["orderly", "--replica-max-lag-ms", "-3"],
    ] {
        assert!(Cli::try_parse_from(refused).is_err(), "{refused:?}");
    }
}

#[test]
fn anonymous_access_is_allowed_on_loopback_or_when_asked() {
    let on = |bound: &str, flag: bool| {
        let mut settings = Settings::for_database("sqlite://x.db");
        settings.http.allow_anonymous = flag;
        settings.http.anonymous_allowed_on(bound.parse().unwrap())
    };
    assert!(on("127.0.0.1:8080", false));
    assert!(on("[::1]:8080", false));
    assert!(!on("0.0.0.0:8080", false));
    assert!(!on("192.168.1.5:8080", false));
    assert!(on("0.0.0.0:8080", true));
}

#[test]
fn bind_takes_ip_addresses_and_host_names_with_a_port() {
    for (given, shown) in [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("localhost:8080", "localhost:8080"),
        ("[::1]:8080", "[::1]:8080"),
        ("0.0.0.0:0", "0.0.0.0:0"),
    ] {
        let settings = serve_settings(&["orderly", "--bind", given]);
        assert_eq!(settings.http.bind.to_string(), shown);
    }
    for bad in [
        "localhost",
        ":8080",
        "host:99999",
        "::1:8080",
        "a b:80",
        "[x]:80",
    ] {
        assert!(
            Cli::try_parse_from(["orderly", "--bind", bad]).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn cors_origins_are_exact_origins_from_flags_or_a_list() {
    let settings = serve_settings(&[
        "orderly",
        "--cors-origin",
        "https://app.example.com/",
        "--cors-origin",
        "http://127.0.0.1:3000",
    ]);
    assert_eq!(
        settings.http.cors_origins,
        ["https://app.example.com", "http://127.0.0.1:3000"]
    );
    for bad in [
        "*",
        "app.example.com",
        "https://a.com/path",
        "ftp://a.com",
        "https://*.a.com",
    ] {
        assert!(
            Cli::try_parse_from(["orderly", "--cors-origin", bad]).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn read_replicas_come_from_repeated_flags_or_a_comma_separated_list() {
    let settings = serve_settings(&[
        "orderly",
        "--database-url",
        "postgres://p/db",
        "--read-replica-url",
        "postgres://r1/db",
        "--read-replica-url",
        "postgres://r2/db,postgres://r3/db",
    ]);
    let primary = settings.database.target().unwrap();
    assert_eq!(
        settings.replicas.urls_for(&primary).unwrap(),
        ["postgres://r1/db", "postgres://r2/db", "postgres://r3/db"]
    );
    let sqlite = DatabaseTarget::Sqlite("x.db".into());
    let mut replicas = ReplicaSettings::none();
    assert!(replicas.urls_for(&sqlite).unwrap().is_empty());
    replicas.urls = vec!["postgres://r1/db".into()];
    let err = replicas.urls_for(&sqlite).unwrap_err().to_string();
    assert!(err.contains("need a PostgreSQL"), "{err}");
    replicas.urls = vec!["mysql://r1/db".into()];
    let err = replicas.urls_for(&primary).unwrap_err().to_string();
    assert!(err.contains("replica 1 is not a postgres"), "{err}");
}

#[test]
fn keys_commands_parse_roles_and_names_at_the_edge() {
    let cli = Cli::parse_from([
        "orderly", "keys", "create", "--role", "read", "--name", "ci",
    ]);
    let Task::Keys(_, action) = cli.task() else {
        panic!("not a keys command")
    };
    assert_eq!(
        action,
        KeysCommand::Create {
            role: Role::Read,
            name: KeyName::parse("ci").unwrap()
        }
    );
    assert!(Cli::try_parse_from(["orderly", "keys", "create", "--role", "root"]).is_err());
    let long_name = "n".repeat(101);
    let too_long = [
        "orderly", "keys", "create", "--role", "read", "--name", &long_name,
    ];
    assert!(Cli::try_parse_from(too_long).is_err());
    assert!(Cli::try_parse_from(["orderly", "keys", "revoke", "x"]).is_err());
}

#[test]
fn the_keys_and_migrate_help_lists_the_database_but_not_serving() {
    let mut cli = Cli::command();
    let top = cli.render_long_help().to_string();
    for flag in [
        "--bind",
        "--read-replica-url",
        "--database-url",
        "--log-format",
    ] {
        assert!(top.contains(flag), "orderly --help lacks {flag}");
    }
    for command in ["keys", "migrate"] {
        let help = cli
            .find_subcommand_mut(command)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("--database-url"), "{command}: {help}");
        assert!(help.contains("--db-connect-timeout-ms"), "{command}");
        for serve_only in [
            "--bind",
            "--allow-anonymous",
            "--read-replica-url",
            "--key-purge-interval-ms",
        ] {
            assert!(
                !help.contains(serve_only),
                "{command} --help lists {serve_only}"
            );
        }
    }
}
