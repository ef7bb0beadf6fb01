//! End-to-end runs of the `connect`, `echo` and `broadcast` scenarios against servers
//! embedded in the test process, through the library API with real worker processes.

mod common;

use switchboard_gateway::bench_ws::BenchMode;
use switchboard_loadgen::coordinator;
use switchboard_loadgen::options::{
    BroadcastOptions, ConnectOptions, EchoOptions, PlainOptions, Scenario,
};
use switchboard_loadgen::stats;

use common::{run_env, BenchServer, EmbeddedServer, SECRET};

fn connect_options(server: &EmbeddedServer, secret: &str) -> ConnectOptions {
    let mut options = ConnectOptions {
        target: server.listening.websocket.to_string(),
        path: "/ws".to_string(),
        connections: 40,
        connect_rate: 400.0,
        duration_secs: 1,
        ping_interval_secs: 1,
        jwt_secret: secret.to_string(),
        first_user_id: 1,
        run: switchboard_loadgen::options::ChatOptions::default().run,
    };
    options.run.connections_per_worker = 20;
    options.run.server_pids = vec![std::process::id()];
    options
}

#[test]
fn connect_holds_every_connection() {
    let server = EmbeddedServer::start();
    let scenario = Scenario::Connect(connect_options(&server, SECRET));
    let outcome = coordinator::run(&scenario, &run_env()).expect("connect run completes");
    let totals = &outcome.totals;

    assert!(outcome.passed(), "problems: {:?}", outcome.problems);
    assert_eq!(outcome.workers, 2);
    assert_eq!(totals.connections.attempted, 40);
    assert_eq!(totals.connections.established, 40);
    assert_eq!(totals.connections.lost_total(), 0);
    assert_eq!(totals.histograms[stats::HANDSHAKE].count(), 40);
    assert!(totals.traffic.pings > 0);
    assert_eq!(totals.traffic.pongs, totals.traffic.pings);
    let memory = outcome.memory.expect("memory sampled for --server-pid");
    assert!(memory.before.rss_bytes > 0);
    assert!(memory.rss_per_connection_bytes.is_some());
}

#[test]
fn connect_counts_rejections_by_status() {
    let server = EmbeddedServer::start();
    let wrong = "a-different-secret-of-at-least-32-bytes!";
    let scenario = Scenario::Connect(connect_options(&server, wrong));
    let outcome = coordinator::run(&scenario, &run_env()).expect("connect run completes");
    let connections = &outcome.totals.connections;

    assert!(!outcome.passed());
    assert_eq!(connections.established, 0);
    assert_eq!(connections.failed.get("http_401"), Some(&40));
    assert!(
        outcome.problems.iter().any(|p| p.contains("http_401 40")),
        "problems: {:?}",
        outcome.problems
    );
}

#[test]
fn echo_gets_every_message_back() {
    let server = BenchServer::start(BenchMode::Echo);
    let mut options = EchoOptions {
        plain: PlainOptions {
            target: server.addr.to_string(),
            path: "/".to_string(),
            connections: 200,
            connect_rate: 2000.0,
            payload_bytes: 64,
            duration_secs: 1,
        },
        in_flight: 4,
        run: switchboard_loadgen::options::ChatOptions::default().run,
    };
    options.run.threads = Some(2);
    let outcome =
        coordinator::run(&Scenario::Echo(options), &run_env()).expect("echo run completes");
    let traffic = &outcome.totals.traffic;

    assert!(outcome.passed(), "problems: {:?}", outcome.problems);
    assert!(traffic.sent > 0);
    assert_eq!(traffic.received, traffic.sent);
    assert_eq!(traffic.unacked, 0);
    assert_eq!(
        outcome.totals.histograms[stats::ROUND_TRIP].count(),
        traffic.received
    );
}

#[test]
fn broadcast_reaches_every_connection() {
    let server = BenchServer::start(BenchMode::Broadcast);
    let options = BroadcastOptions {
        plain: PlainOptions {
            target: server.addr.to_string(),
            path: "/".to_string(),
            connections: 30,
            connect_rate: 300.0,
            payload_bytes: 64,
            duration_secs: 1,
        },
        senders: 2,
        rate: 20.0,
        drain_secs: 1,
        run: switchboard_loadgen::options::ChatOptions::default().run,
    };
    let outcome = coordinator::run(&Scenario::Broadcast(options), &run_env())
        .expect("broadcast run completes");
    let traffic = &outcome.totals.traffic;

    assert!(outcome.passed(), "problems: {:?}", outcome.problems);
    assert!(traffic.sent > 0);
    assert_eq!(traffic.received, traffic.sent * 30);
    assert_eq!(
        outcome.totals.histograms[stats::SEND_TO_RECEIVE].count(),
        traffic.received
    );
}
