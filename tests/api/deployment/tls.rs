//! TLS to PostgreSQL with libpq's URL parameters, against a throwaway
//! server of the test's own: `ssl = on` with a CA and certificates the
//! test makes, and a `pg_hba.conf` that rejects clear text, so every
//! connection that works was encrypted.

use std::path::Path;
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::{orderly_command, OrderlyProcess};

/// A server of the test's own, and the certificates it made for it.
struct TlsServer {
    cluster: Cluster,
    port: u16,
    /// Where the PEM files are.
    certs: String,
}

/// A CA, the server's certificate for `localhost` only, a client
/// certificate for the role `certuser`, and an unrelated CA with a client
/// certificate of its own for that role, written as
/// PEM files into `certs` (the server's key readable by `postgres` alone).
fn make_certificates(certs: &str) {
    let _ = std::fs::remove_dir_all(certs);
    std::fs::create_dir_all(certs).unwrap();
    let write = |file: &str, pem: &str| std::fs::write(Path::new(certs).join(file), pem).unwrap();
    let new_ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert, Issuer::new(params, key))
    };
    let (ca_cert, ca) = new_ca("orderly test CA");
    let (other_ca_cert, other_ca) = new_ca("an unrelated CA");
    let leaf = |names: Vec<String>, common_name: &str, file: &str, ca: &Issuer<'_, KeyPair>| {
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, ca).unwrap();
        write(&format!("{file}.crt"), &cert.pem());
        write(&format!("{file}.key"), &key.serialize_pem());
    };
    write("ca.crt", &ca_cert.pem());
    write("other-ca.crt", &other_ca_cert.pem());
    leaf(vec!["localhost".into()], "localhost", "server", &ca);
    leaf(Vec::new(), "certuser", "client", &ca);
    // The same role's name, but signed by a CA the server does not trust.
    leaf(Vec::new(), "certuser", "stranger", &other_ca);
    for (file, mode) in [
        ("server.key", "600"),
        ("server.crt", "644"),
        ("ca.crt", "644"),
    ] {
        let path = format!("{certs}/{file}");
        run("chown", &["postgres:", &path]);
        run("chmod", &[mode, &path]);
    }
    run("chmod", &["755", certs]);
}

fn run(command: &str, args: &[&str]) {
    let status = Command::new(command).args(args).status().unwrap();
    assert!(status.success(), "{command} {args:?} failed");
}

/// A server named `name` on `port` that speaks TLS only: clear text is
/// rejected by pg_hba.conf, and `certuser` logs in by its client
/// certificate alone.
fn tls_only_server(name: &str, port: u16) -> TlsServer {
    let hba = "local all all trust\n\
               hostssl all certuser 127.0.0.1/32 cert\n\
               hostssl all all 127.0.0.1/32 trust\n\
               hostnossl all all 127.0.0.1/32 reject\n";
    tls_server(name, port, hba)
}

/// A server that offers TLS and takes clear text too, as most do.
fn tls_offering_server(name: &str, port: u16) -> TlsServer {
    tls_server(
        name,
        port,
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
}

fn tls_server(name: &str, port: u16, hba: &str) -> TlsServer {
    let certs = format!("/tmp/orderly-test-{name}-certs");
    make_certificates(&certs);
    let conf = format!(
        "ssl = on\nssl_cert_file = '{certs}/server.crt'\nssl_key_file = '{certs}/server.key'\nssl_ca_file = '{certs}/ca.crt'\n"
    );
    let cluster = Cluster::lone(name, port, &conf, Some(hba));
    TlsServer {
        cluster,
        port,
        certs,
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.certs);
    }
}

impl TlsServer {
    fn url(&self, host: &str, user: &str, params: &str) -> String {
        format!("postgres://{user}@{host}:{}/postgres?{params}", self.port)
    }

    /// `sslrootcert=` our CA, with verify-full.
    fn verify_full(&self) -> String {
        format!("sslmode=verify-full&sslrootcert={}/ca.crt", self.certs)
    }
}

/// `orderly migrate` on `url`: its exit code and standard error.
async fn migrate(url: &str) -> (Option<i32>, String) {
    let (code, _, stderr) = orderly_command(url, &["migrate"]).await;
    (code, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_connects_as_libpq_would_and_every_failure_says_which_host_and_why() {
    let server = tls_only_server("tls-modes", 26132);
    let (port, certs) = (server.port, server.certs.clone());
    let url = |host: &str, user: &str, params: &str| server.url(host, user, params);
    let host_port = format!("127.0.0.1:{port}");

    // Encrypted without checking the certificate: require, and prefer
    // (the default) and allow, since the server insists.
    for params in ["sslmode=require", "", "sslmode=prefer", "sslmode=allow"] {
        let (code, stderr) = migrate(&url("127.0.0.1", "postgres", params)).await;
        assert_eq!(code, Some(0), "{params:?}: {stderr}");
    }
    // Clear text is what the server rejects, and the error says where.
    let (code, stderr) = migrate(&url("127.0.0.1", "postgres", "sslmode=disable")).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&host_port) && stderr.contains("no encryption"),
        "{stderr}"
    );

    // verify-full: the right CA and the host name the certificate names.
    let full = server.verify_full();
    let (code, stderr) = migrate(&url("localhost", "postgres", &full)).await;
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = migrate(&url("127.0.0.1", "postgres", &full)).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&host_port) && stderr.contains("host name mismatch"),
        "{stderr}"
    );
    let unrelated = format!("sslmode=verify-full&sslrootcert={certs}/other-ca.crt");
    let (code, stderr) = migrate(&url("localhost", "postgres", &unrelated)).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("localhost:{port}")) && stderr.contains("unknown CA"),
        "{stderr}"
    );
    // verify-ca checks the chain but not the name.
    let chain = format!("sslmode=verify-ca&sslrootcert={certs}/ca.crt");
    let (code, stderr) = migrate(&url("127.0.0.1", "postgres", &chain)).await;
    assert_eq!(code, Some(0), "{stderr}");

    // A client certificate logs in as the role it names, by `cert`
    // authentication; without it that role is refused.
    server
        .cluster
        .sql(Node::Primary, "CREATE ROLE certuser LOGIN SUPERUSER")
        .await;
    let with_cert = format!("{full}&sslcert={certs}/client.crt&sslkey={certs}/client.key");
    let (code, stdout, stderr) =
        orderly_command(&url("localhost", "certuser", &with_cert), &["keys", "list"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, stderr) = migrate(&url("localhost", "certuser", &full)).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("requires a valid client certificate"),
        "{stderr}"
    );
    let stranger = format!("{full}&sslcert={certs}/stranger.crt&sslkey={certs}/stranger.key");
    let (code, stderr) = migrate(&url("localhost", "certuser", &stranger)).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "localhost:{port}: TLS: the server refused the client certificate (UnknownCA)"
        )),
        "{stderr}"
    );
}

/// Starts the service on `url` and has it create and read; then counts
/// its connections on `server` that are encrypted and that are not.
async fn the_service_connections_on(server: &TlsServer, url: &str) -> (i64, i64) {
    let app = OrderlyProcess::start_on_url(url, &[]).await;
    // An address of its own per call: the server is shared by the calls.
    let email = format!(
        "tls-{}@example.com",
        app.socket_address().replace([':', '.'], "-")
    );
    let created = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": email, "name": "TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let got = app
        .client
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let count = |encrypted: bool| {
        format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE application_name = 'orderly' AND ssl = {encrypted}"
        )
    };
    let primary = &server.cluster;
    let encrypted = primary
        .sql(Node::Primary, &count(true))
        .await
        .parse()
        .unwrap();
    let clear = primary
        .sql(Node::Primary, &count(false))
        .await
        .parse()
        .unwrap();
    (encrypted, clear)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_encrypts_every_connection_with_verify_full_and_by_default_where_tls_is_offered(
) {
    let server = tls_only_server("tls-service", 26232);
    let full = server.url("localhost", "postgres", &server.verify_full());
    let (encrypted, clear) = the_service_connections_on(&server, &full).await;
    assert!(encrypted >= 2, "{encrypted} encrypted connections");
    assert_eq!(clear, 0);

    // No sslmode at all (libpq's `prefer`), on a server that would also
    // take clear text: TLS, because the server offers it.
    let server = tls_offering_server("tls-offered", 26242);
    let plain_url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let (encrypted, clear) = the_service_connections_on(&server, &plain_url).await;
    assert!(encrypted >= 2, "{encrypted} encrypted connections");
    assert_eq!(
        clear, 0,
        "prefer connected in clear text although TLS was offered"
    );
}
