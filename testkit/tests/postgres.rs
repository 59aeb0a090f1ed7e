//! The private PostgreSQL cluster starts, serves a database, survives a restart, and is gone
//! after drop.

use std::net::TcpStream;

use nexus_testkit::Postgres;

#[test]
fn starts_serves_restarts_and_stops() {
    let pg = Postgres::start().expect("postgres");
    let port = pg.port();
    assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
    let url = pg.create_database("example").expect("createdb");
    assert!(url.ends_with("/example"));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    pg.restart().expect("restart");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    let log = pg.log_path();
    drop(pg);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "server still listening after drop");
    assert!(!log.exists(), "cluster directory left behind");
}
