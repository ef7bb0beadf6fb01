//! Options of every scenario, as clap arguments, with the hard limits that bound each run.

use clap::{Args, FromArgMatches};
use serde::Serialize;

/// Most connections one run may open.
pub const MAX_CONNECTIONS: u64 = 1_000_000;
/// Longest measured phase of a run, and longest connection ramp, in seconds.
pub const MAX_DURATION_SECS: u64 = 3_600;
/// Most connections one worker process may hold: a process may hold about 20,000 file
/// descriptors, and each worker keeps some for its runtimes and pipes.
pub const MAX_CONNECTIONS_PER_WORKER: usize = 19_000;
/// Most worker processes of one run.
pub const MAX_WORKERS: usize = 256;
/// Most event-loop threads per worker.
pub const MAX_THREADS: usize = 256;
/// Highest message rate of one run, in messages per second.
pub const MAX_MESSAGE_RATE: f64 = 1_000_000.0;
/// Largest payload of one message, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Smallest payload of echo and broadcast messages: the 8-byte send timestamp.
pub const MIN_RAW_PAYLOAD_BYTES: usize = 8;
/// Most users the chat setup registers; each registration hashes a password on the server.
pub const MAX_CHAT_USERS: u64 = 100_000;
/// DM conversations of the chat scenario unless --users is small.
pub const DEFAULT_DM_PAIRS: u64 = 100;
/// Members of each chat group unless --users is smaller.
pub const DEFAULT_GROUP_SIZE: u64 = 8;
/// Members of the large chat group unless --users is smaller.
pub const DEFAULT_LARGE_GROUP_SIZE: u64 = 50;
/// Most messages one echo connection keeps in flight.
pub const MAX_IN_FLIGHT: u32 = 1_024;
/// Most loopback source addresses: 127.0.0.2 up to 127.0.255.255.
pub const MAX_SOURCE_ADDRS: u32 = 65_000;

/// An option value outside its allowed range.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("--{option} {value} is out of range; use {allowed}")]
pub struct OptionError {
    /// Option name without the dashes.
    pub option: &'static str,
    /// The rejected value.
    pub value: String,
    /// The allowed range in words.
    pub allowed: String,
}

fn check<T: PartialOrd + std::fmt::Display>(
    option: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), OptionError> {
    if value >= min && value <= max {
        return Ok(());
    }
    Err(OptionError {
        option,
        value: value.to_string(),
        allowed: format!("{min} to {max}"),
    })
}

/// Checks a chat option whose maximum depends on --users, and names --users in the error.
fn check_for_users(
    option: &'static str,
    value: u64,
    min: u64,
    max: u64,
    users: u64,
) -> Result<(), OptionError> {
    check(option, value, min, max).map_err(|error| OptionError {
        allowed: format!("{} with --users {users}", error.allowed),
        ..error
    })
}

/// Returns the most DM pairs the chat layout keeps distinct among `users` users:
/// `users * ((users - 1) / 2)`, which for an even count leaves out the pairs half the
/// circle apart.
fn max_dm_pairs(users: u64) -> u64 {
    users * (users.saturating_sub(1) / 2)
}

/// Checks that opening `connections` at `rate` per second takes at most
/// [`MAX_DURATION_SECS`].
fn check_ramp(connections: u64, rate: f64) -> Result<(), OptionError> {
    check("connect-rate", rate, 0.001, MAX_MESSAGE_RATE)?;
    let ramp_secs = connections as f64 / rate;
    if ramp_secs <= MAX_DURATION_SECS as f64 {
        return Ok(());
    }
    Err(OptionError {
        option: "connect-rate",
        value: rate.to_string(),
        allowed: format!(
            "at least {:.3} so that {connections} connections open within {MAX_DURATION_SECS} s",
            connections as f64 / MAX_DURATION_SECS as f64
        ),
    })
}

/// Options every scenario shares: worker processes, threads, source addresses, timeouts
/// and server memory sampling.
#[derive(Args, Debug, Clone, Serialize)]
pub struct RunOptions {
    /// Worker processes [default: enough that each opens at most --connections-per-worker].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Most connections one worker process holds. Each connection needs one file
    /// descriptor, and a process may hold about 20,000.
    #[arg(long, default_value_t = 15_000)]
    pub connections_per_worker: usize,
    /// Event-loop threads per worker, each running one monoio runtime [default: number of
    /// CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Loopback source addresses to spread connections over, from 127.0.0.2 upwards. Each
    /// address offers one local port per connection from the kernel's ephemeral range
    /// (about 28,000). 0 lets the kernel pick 127.0.0.1. Ignored for IPv6 targets.
    /// [default: 16, or more when the connections need them]
    #[arg(long)]
    pub source_addrs: Option<u32>,
    /// Time allowed to open one connection: TCP connect, upgrade and, where the protocol is
    /// used, AuthOk, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// PID of a server process whose memory (VmRSS, VmHWM) is sampled before connecting and
    /// while connections are open. Repeat for several processes.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Connections that may fail to open, or be lost while open, before the run fails.
    #[arg(long, default_value_t = 0)]
    pub max_failed_connections: u64,
}

impl RunOptions {
    fn validate(&self) -> Result<(), OptionError> {
        if let Some(workers) = self.workers {
            check("workers", workers, 1, MAX_WORKERS)?;
        }
        if let Some(threads) = self.threads {
            check("threads", threads, 1, MAX_THREADS)?;
        }
        check(
            "connections-per-worker",
            self.connections_per_worker,
            1,
            MAX_CONNECTIONS_PER_WORKER,
        )?;
        if let Some(source_addrs) = self.source_addrs {
            check("source-addrs", source_addrs, 0, MAX_SOURCE_ADDRS)?;
        }
        check("connect-timeout-ms", self.connect_timeout_ms, 1, 600_000)
    }
}

/// Options of the `connect` scenario.
#[derive(Args, Debug, Clone, Serialize)]
pub struct ConnectOptions {
    /// WebSocket server, HOST:PORT; only 127.0.0.0/8, [::1] and localhost are accepted.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub target: String,
    /// Path of the WebSocket endpoint.
    #[arg(long, default_value = "/ws")]
    pub path: String,
    /// Connections to open, one per user id from --first-user-id upwards.
    #[arg(long, default_value_t = 1_000)]
    pub connections: u64,
    /// Connections opened per second, over all workers.
    #[arg(long, visible_alias = "rate", default_value_t = 1_000.0)]
    pub connect_rate: f64,
    /// Time to hold the connections once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Interval between Ping frames on each connection, in seconds; 0 sends none.
    #[arg(long, default_value_t = 30)]
    pub ping_interval_secs: u64,
    /// HS256 secret the server runs with (its SWITCHBOARD_JWT_SECRET); tokens are minted
    /// locally with it.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub jwt_secret: String,
    /// User id of the first connection's token.
    #[arg(long, default_value_t = 1)]
    pub first_user_id: u64,
    #[command(flatten)]
    pub run: RunOptions,
}

impl ConnectOptions {
    /// Checks every option against its limits.
    ///
    /// # Errors
    /// [`OptionError`] for the first value out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        check("connections", self.connections, 1, MAX_CONNECTIONS)?;
        check_ramp(self.connections, self.connect_rate)?;
        check("duration-secs", self.duration_secs, 0, MAX_DURATION_SECS)?;
        check(
            "ping-interval-secs",
            self.ping_interval_secs,
            0,
            MAX_DURATION_SECS,
        )?;
        self.run.validate()
    }
}

/// Push that the chat pipeline drops before the checker records it, to prove that the
/// checker reports a loss. Only the library API sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DropHook {
    /// Index of the conversation in the setup order: DMs, then groups, then the large group.
    pub conversation_index: usize,
    /// Index of the member in the conversation's member list; its first device drops.
    pub member_index: usize,
    /// Position of the push to drop among that device's pushes of the conversation, from 1.
    pub nth_push: u32,
}

/// Options of the `chat` scenario.
#[derive(Args, Debug, Clone, Serialize)]
pub struct ChatOptions {
    /// WebSocket server, HOST:PORT; only 127.0.0.0/8, [::1] and localhost are accepted.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub target: String,
    /// REST API server, HOST:PORT or http://HOST:PORT; loopback only, like --target.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub rest: String,
    /// Path of the WebSocket endpoint.
    #[arg(long, default_value = "/ws")]
    pub path: String,
    /// Users to register. Registration hashes a password on the server, tens of
    /// milliseconds each.
    #[arg(long, default_value_t = 200)]
    pub users: u64,
    /// DM conversations, each between two distinct users. [default: 100, or --users / 2
    /// when that is smaller, and 0 with --users 2]
    #[arg(long)]
    pub dm_pairs: Option<u64>,
    /// Group conversations of --group-size members.
    #[arg(long, default_value_t = 10)]
    pub groups: u64,
    /// Members of each group, 2 to --users; ignored with --groups 0. [default: 8, or
    /// --users when that is smaller]
    #[arg(long)]
    pub group_size: Option<u64>,
    /// Members of one extra large group, 2 to --users; 0 creates none. [default: 50, or
    /// --users when that is smaller]
    #[arg(long)]
    pub large_group_size: Option<u64>,
    /// Fraction of users (0 to 1) that connect a second device.
    #[arg(long, default_value_t = 0.0)]
    pub second_device_fraction: f64,
    /// Messages sent per second over all devices.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Size of each message's content in bytes, timestamp and sender tag included.
    #[arg(long, default_value_t = 128)]
    pub payload_bytes: usize,
    /// Time to send messages, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Time to wait for pushes after the last ack before the final sync, in seconds.
    #[arg(long, default_value_t = 2)]
    pub drain_secs: u64,
    /// Connections opened per second, over all workers.
    #[arg(long, default_value_t = 500.0)]
    pub connect_rate: f64,
    /// Interval between Ping frames on each connection, in seconds; 0 sends none.
    #[arg(long, default_value_t = 30)]
    pub ping_interval_secs: u64,
    /// HS256 secret the server runs with; when set, tokens are minted locally instead of
    /// logging every user in over REST.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub jwt_secret: Option<String>,
    /// Concurrent REST requests during setup.
    #[arg(long, default_value_t = 4)]
    pub setup_concurrency: usize,
    /// Push to drop on purpose before the checker records it.
    #[arg(skip)]
    pub drop_hook: Option<DropHook>,
    #[command(flatten)]
    pub run: RunOptions,
}

impl Default for ChatOptions {
    fn default() -> Self {
        parse_defaults()
    }
}

impl ChatOptions {
    /// Returns the number of devices: one per user plus second devices.
    pub fn devices(&self) -> u64 {
        self.users + self.second_devices()
    }

    /// Returns the number of users with a second device.
    pub fn second_devices(&self) -> u64 {
        (self.users as f64 * self.second_device_fraction).round() as u64
    }

    /// Returns --dm-pairs, or without it [`DEFAULT_DM_PAIRS`] scaled down to half the users
    /// and to the most distinct pairs the layout can form.
    pub fn dm_pairs(&self) -> u64 {
        self.dm_pairs.unwrap_or_else(|| {
            DEFAULT_DM_PAIRS
                .min(self.users / 2)
                .min(max_dm_pairs(self.users))
        })
    }

    /// Returns --group-size, or without it [`DEFAULT_GROUP_SIZE`] capped at the users.
    pub fn group_size(&self) -> u64 {
        self.group_size
            .unwrap_or_else(|| DEFAULT_GROUP_SIZE.min(self.users))
    }

    /// Returns --large-group-size, or without it [`DEFAULT_LARGE_GROUP_SIZE`] capped at the
    /// users.
    pub fn large_group_size(&self) -> u64 {
        self.large_group_size
            .unwrap_or_else(|| DEFAULT_LARGE_GROUP_SIZE.min(self.users))
    }

    /// Returns a copy with the conversation sizes that depend on --users filled in, as the
    /// run uses them.
    pub fn with_resolved_sizes(&self) -> ChatOptions {
        ChatOptions {
            dm_pairs: Some(self.dm_pairs()),
            group_size: Some(self.group_size()),
            large_group_size: Some(self.large_group_size()),
            ..self.clone()
        }
    }

    /// Checks every option against its limits.
    ///
    /// # Errors
    /// [`OptionError`] for the first value out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        check("users", self.users, 2, MAX_CHAT_USERS)?;
        let users = self.users;
        check_for_users("dm-pairs", self.dm_pairs(), 0, max_dm_pairs(users), users)?;
        check("groups", self.groups, 0, MAX_CHAT_USERS)?;
        if self.groups > 0 {
            check_for_users("group-size", self.group_size(), 2, users, users)?;
        }
        if self.large_group_size() != 0 {
            check_for_users("large-group-size", self.large_group_size(), 2, users, users)?;
        }

        check(
            "second-device-fraction",
            self.second_device_fraction,
            0.0,
            1.0,
        )?;
        check("rate", self.rate, 0.001, MAX_MESSAGE_RATE)?;
        check(
            "payload-bytes",
            self.payload_bytes,
            crate::scenario::chat::content::MIN_CONTENT_BYTES,
            MAX_PAYLOAD_BYTES,
        )?;
        check("duration-secs", self.duration_secs, 1, MAX_DURATION_SECS)?;
        check("drain-secs", self.drain_secs, 0, 600)?;

        check_ramp(self.devices(), self.connect_rate)?;
        check(
            "ping-interval-secs",
            self.ping_interval_secs,
            0,
            MAX_DURATION_SECS,
        )?;
        check("setup-concurrency", self.setup_concurrency, 1, 256)?;
        self.run.validate()
    }
}

/// Options the plain-WebSocket scenarios (`echo` and `broadcast`, which send binary
/// messages without the switchboard protocol) share.
#[derive(Args, Debug, Clone, Serialize)]
pub struct PlainOptions {
    /// WebSocket server, HOST:PORT; only 127.0.0.0/8, [::1] and localhost are accepted.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub target: String,
    /// Path of the WebSocket endpoint.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Connections to open.
    #[arg(long, default_value_t = 100)]
    pub connections: u64,
    /// Connections opened per second, over all workers.
    #[arg(long, default_value_t = 1_000.0)]
    pub connect_rate: f64,
    /// Size of each binary message in bytes; the first 8 carry the send time.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Time to send messages, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
}

impl PlainOptions {
    fn validate(&self) -> Result<(), OptionError> {
        check("connections", self.connections, 1, MAX_CONNECTIONS)?;
        check_ramp(self.connections, self.connect_rate)?;
        check(
            "payload-bytes",
            self.payload_bytes,
            MIN_RAW_PAYLOAD_BYTES,
            MAX_PAYLOAD_BYTES,
        )?;
        check("duration-secs", self.duration_secs, 1, MAX_DURATION_SECS)
    }
}

/// Options of the `echo` scenario.
#[derive(Args, Debug, Clone, Serialize)]
pub struct EchoOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub plain: PlainOptions,
    /// Messages each connection keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub in_flight: u32,
    #[command(flatten)]
    pub run: RunOptions,
}

impl EchoOptions {
    /// Checks every option against its limits.
    ///
    /// # Errors
    /// [`OptionError`] for the first value out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        self.plain.validate()?;
        check("in-flight", self.in_flight, 1, MAX_IN_FLIGHT)?;
        self.run.validate()
    }
}

/// Options of the `broadcast` scenario.
#[derive(Args, Debug, Clone, Serialize)]
pub struct BroadcastOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub plain: PlainOptions,
    /// Connections among --connections that also send. Every connection receives every
    /// message.
    #[arg(long, default_value_t = 1)]
    pub senders: u64,
    /// Messages sent per second over all senders.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Time to keep receiving after the last send, in seconds.
    #[arg(long, default_value_t = 2)]
    pub drain_secs: u64,
    #[command(flatten)]
    pub run: RunOptions,
}

impl BroadcastOptions {
    /// Checks every option against its limits.
    ///
    /// # Errors
    /// [`OptionError`] for the first value out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        self.plain.validate()?;
        check("senders", self.senders, 1, self.plain.connections)?;
        check("rate", self.rate, 0.001, MAX_MESSAGE_RATE)?;
        check("drain-secs", self.drain_secs, 0, 600)?;
        self.run.validate()
    }
}

/// A scenario with its options.
#[derive(Debug, Clone)]
pub enum Scenario {
    Connect(ConnectOptions),
    Chat(ChatOptions),
    Echo(EchoOptions),
    Broadcast(BroadcastOptions),
}

impl Scenario {
    /// Returns the subcommand name of the scenario.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Connect(_) => "connect",
            Scenario::Chat(_) => "chat",
            Scenario::Echo(_) => "echo",
            Scenario::Broadcast(_) => "broadcast",
        }
    }

    /// Returns the shared options.
    pub fn run_options(&self) -> &RunOptions {
        match self {
            Scenario::Connect(options) => &options.run,
            Scenario::Chat(options) => &options.run,
            Scenario::Echo(options) => &options.run,
            Scenario::Broadcast(options) => &options.run,
        }
    }

    /// Returns the WebSocket target as given.
    pub fn target(&self) -> &str {
        match self {
            Scenario::Connect(options) => &options.target,
            Scenario::Chat(options) => &options.target,
            Scenario::Echo(options) => &options.plain.target,
            Scenario::Broadcast(options) => &options.plain.target,
        }
    }

    /// Returns the number of connections the scenario opens.
    pub fn connections(&self) -> u64 {
        match self {
            Scenario::Connect(options) => options.connections,
            Scenario::Chat(options) => options.devices(),
            Scenario::Echo(options) => options.plain.connections,
            Scenario::Broadcast(options) => options.plain.connections,
        }
    }

    /// Checks every option against its limits.
    ///
    /// # Errors
    /// [`OptionError`] for the first value out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        match self {
            Scenario::Connect(options) => options.validate(),
            Scenario::Chat(options) => options.validate(),
            Scenario::Echo(options) => options.validate(),
            Scenario::Broadcast(options) => options.validate(),
        }?;
        let needed_workers = self
            .connections()
            .div_ceil(self.run_options().connections_per_worker as u64);
        if let Some(workers) = self.run_options().workers {
            if (workers as u64) < needed_workers {
                return Err(OptionError {
                    option: "workers",
                    value: workers.to_string(),
                    allowed: format!(
                        "at least {needed_workers} for {} connections at --connections-per-worker {}",
                        self.connections(),
                        self.run_options().connections_per_worker
                    ),
                });
            }
        }
        Ok(())
    }

    /// Returns the options as JSON for the report, without secrets.
    pub fn options_json(&self) -> serde_json::Value {
        let value = match self {
            Scenario::Connect(options) => serde_json::to_value(options),
            Scenario::Chat(options) => serde_json::to_value(options.with_resolved_sizes()),
            Scenario::Echo(options) => serde_json::to_value(options),
            Scenario::Broadcast(options) => serde_json::to_value(options),
        };
        value.expect("options serialize to JSON")
    }
}

/// Builds an options struct from its clap defaults alone.
fn parse_defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every option of this struct has a default");
    T::from_arg_matches(&matches).expect("defaults convert to the struct")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_defaults_valid() {
        let options = ChatOptions::default();
        assert_eq!(options.users, 200);
        assert_eq!(options.devices(), 200);
        options.validate().unwrap();
    }

    #[test]
    fn chat_sizes_scale_with_few_users() {
        let options = ChatOptions {
            users: 4,
            ..ChatOptions::default()
        };
        assert_eq!(options.dm_pairs(), 2);
        assert_eq!(options.group_size(), 4);
        assert_eq!(options.large_group_size(), 4);
        options.validate().unwrap();

        let options = ChatOptions {
            users: 2,
            ..ChatOptions::default()
        };
        assert_eq!(options.dm_pairs(), 0);
        assert_eq!(options.group_size(), 2);
        assert_eq!(options.large_group_size(), 2);
        options.validate().unwrap();
    }

    #[test]
    fn chat_sizes_default_for_many_users() {
        let options = ChatOptions::default();
        assert_eq!(options.dm_pairs(), DEFAULT_DM_PAIRS);
        assert_eq!(options.group_size(), DEFAULT_GROUP_SIZE);
        assert_eq!(options.large_group_size(), DEFAULT_LARGE_GROUP_SIZE);
    }

    #[test]
    fn explicit_chat_sizes_kept() {
        let options = ChatOptions {
            users: 4,
            dm_pairs: Some(3),
            group_size: Some(3),
            large_group_size: Some(0),
            ..ChatOptions::default()
        };
        assert_eq!(options.dm_pairs(), 3);
        assert_eq!(options.group_size(), 3);
        assert_eq!(options.large_group_size(), 0);
        options.validate().unwrap();
    }

    #[test]
    fn explicit_chat_sizes_checked_against_users() {
        let too_many_pairs = ChatOptions {
            users: 4,
            dm_pairs: Some(100),
            ..ChatOptions::default()
        };
        let error = too_many_pairs.validate().unwrap_err();
        assert_eq!(error.option, "dm-pairs");
        assert_eq!(
            error.to_string(),
            "--dm-pairs 100 is out of range; use 0 to 4 with --users 4"
        );

        let large_group = ChatOptions {
            users: 4,
            large_group_size: Some(5),
            ..ChatOptions::default()
        };
        assert_eq!(
            large_group.validate().unwrap_err().option,
            "large-group-size"
        );

        let group = ChatOptions {
            users: 4,
            group_size: Some(8),
            ..ChatOptions::default()
        };
        assert_eq!(group.validate().unwrap_err().option, "group-size");
    }

    #[test]
    fn group_size_ignored_without_groups() {
        let options = ChatOptions {
            users: 4,
            groups: 0,
            group_size: Some(8),
            ..ChatOptions::default()
        };
        options.validate().unwrap();
    }

    #[test]
    fn chat_report_shows_resolved_sizes() {
        let options = ChatOptions {
            users: 4,
            ..ChatOptions::default()
        };
        let json = Scenario::Chat(options).options_json();
        assert_eq!(json["dm_pairs"], 2);
        assert_eq!(json["group_size"], 4);
        assert_eq!(json["large_group_size"], 4);
    }

    #[test]
    fn chat_cli_accepts_few_users() {
        let command = ChatOptions::augment_args(clap::Command::new("chat").no_binary_name(true));
        let matches = command
            .try_get_matches_from(["--users", "4", "--rest", "http://127.0.0.1:18151/"])
            .unwrap();
        let options = ChatOptions::from_arg_matches(&matches).unwrap();
        assert_eq!(options.rest, "http://127.0.0.1:18151/");
        assert_eq!(options.dm_pairs, None);
        options.validate().unwrap();
    }

    #[test]
    fn plain_options_flat_in_report() {
        let command = EchoOptions::augment_args(clap::Command::new("echo").no_binary_name(true));
        let matches = command
            .try_get_matches_from(["--connections", "7", "--in-flight", "3"])
            .unwrap();
        let options = EchoOptions::from_arg_matches(&matches).unwrap();
        let json = Scenario::Echo(options).options_json();
        assert_eq!(json["target"], "127.0.0.1:8080");
        assert_eq!(json["path"], "/");
        assert_eq!(json["connections"], 7);
        assert_eq!(json["connect_rate"], 1_000.0);
        assert_eq!(json["payload_bytes"], 64);
        assert_eq!(json["duration_secs"], 10);
        assert_eq!(json["in_flight"], 3);
        assert!(json.get("plain").is_none(), "{json}");
        assert_eq!(json["run"]["connections_per_worker"], 15_000);
    }

    #[test]
    fn connection_cap_enforced() {
        let mut options = EchoOptions {
            plain: PlainOptions {
                target: "127.0.0.1:1".into(),
                path: "/".into(),
                connections: MAX_CONNECTIONS + 1,
                connect_rate: 1_000_000.0,
                payload_bytes: 64,
                duration_secs: 1,
            },
            in_flight: 1,
            run: ChatOptions::default().run,
        };
        let error = options.validate().unwrap_err();
        assert_eq!(error.option, "connections");
        assert!(error.to_string().contains("1000001"));

        options.plain.connections = 10;
        options.plain.duration_secs = MAX_DURATION_SECS + 1;
        assert_eq!(options.validate().unwrap_err().option, "duration-secs");
    }

    #[test]
    fn slow_ramp_rejected() {
        let options = ChatOptions {
            connect_rate: 0.01,
            ..ChatOptions::default()
        };
        let error = options.validate().unwrap_err();
        assert_eq!(error.option, "connect-rate");
    }

    #[test]
    fn too_few_workers_rejected() {
        let mut options = ChatOptions::default();
        options.run.connections_per_worker = 50;
        options.run.workers = Some(2);
        let error = Scenario::Chat(options).validate().unwrap_err();
        assert_eq!(error.option, "workers");
    }

    #[test]
    fn secret_left_out_of_report() {
        let options = ChatOptions {
            jwt_secret: Some("do-not-print-this-secret-0123456789".into()),
            ..ChatOptions::default()
        };
        let json = Scenario::Chat(options).options_json().to_string();
        assert!(!json.contains("do-not-print"));
        assert!(json.contains("\"users\":200"));
    }
}
