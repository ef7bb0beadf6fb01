//! Configuration of a switchboard node: one typed struct per service, read from a TOML file
//! and overridden by `SWITCHBOARD_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use switchboard_router::RouterConfig;

/// Most shard threads a gateway may run. Each shard owns a listener and an io_uring, and
/// a session id keeps 16 bits for the shard index.
const MAX_SHARDS: usize = 1024;

/// Configuration of a whole node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder of the embedded store and of the generated token secret.
    pub data_dir: PathBuf,
    pub gateway: GatewayConfig,
    pub rest: RestConfig,
    pub auth: AuthConfig,
    pub router: RouterConfig,
}

/// WebSocket gateway settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address of the WebSocket listener; every shard binds it with SO_REUSEPORT.
    pub listen_addr: SocketAddr,
    /// Path of the WebSocket endpoint.
    pub ws_path: String,
    /// Number of shard threads; 0 means one per CPU core.
    pub shards: usize,
    /// Id of this gateway among the gateways that share a router.
    pub gateway_id: u32,
    /// Largest WebSocket message accepted, after reassembly of fragments.
    pub max_message_bytes: usize,
    /// Largest protocol frame accepted inside a message.
    pub max_frame_bytes: usize,
    /// Most frames served from one message. The replies to one message are queued before the
    /// writer runs, so this must stay well below `send_queue_messages`.
    pub max_frames_per_message: usize,
    /// Time a client has to complete the HTTP upgrade (slowloris guard).
    pub handshake_timeout_ms: u64,
    /// Time a client that upgraded without a token has to send an Authenticate frame.
    pub auth_timeout_ms: u64,
    /// Time without any received byte after which a session is closed with code 4000.
    pub idle_timeout_ms: u64,
    /// Most WebSocket messages queued for one session before it is dropped with code 4001.
    pub send_queue_messages: usize,
    /// Most bytes queued for one session before it is dropped with code 4001.
    pub send_queue_bytes: usize,
    /// Requests per second a session may sustain; excess requests get `RATE_LIMITED`.
    pub rate_limit_per_second: u32,
    /// Requests a session may send at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// Time a drain waits for sessions to close before the process exits.
    pub drain_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ws_path: "/ws".to_string(),
            shards: 0,
            gateway_id: 1,
            max_message_bytes: 256 * 1024,
            max_frame_bytes: switchboard_protocol::frame::DEFAULT_MAX_FRAME_BYTES,
            max_frames_per_message: 64,
            handshake_timeout_ms: 5_000,
            auth_timeout_ms: 10_000,
            idle_timeout_ms: 90_000,
            send_queue_messages: 1_024,
            send_queue_bytes: 4 * 1024 * 1024,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            drain_timeout_ms: 5_000,
        }
    }
}

/// REST API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestConfig {
    /// Address of the HTTP listener of the REST API.
    pub listen_addr: SocketAddr,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
        }
    }
}

/// Token settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret that signs and checks tokens. When unset, a random secret is generated
    /// once and kept in `<data_dir>/jwt-secret`.
    pub jwt_secret: Option<String>,
    /// Lifetime of tokens issued by login.
    pub token_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            token_ttl_secs: 24 * 3600,
        }
    }
}

impl Config {
    /// Reads `path` if given, then applies environment overrides and checks the result.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, an override has an invalid value, or a
    /// setting is out of range.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Config::default(),
        };
        if config.data_dir.as_os_str().is_empty() {
            config.data_dir = PathBuf::from("data");
        }
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies the `SWITCHBOARD_*` overrides that `lookup` returns.
    fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(value) = lookup("SWITCHBOARD_DATA_DIR") {
            self.data_dir = PathBuf::from(value);
        }
        if let Some(value) = lookup("SWITCHBOARD_WS_ADDR") {
            self.gateway.listen_addr = parse_env("SWITCHBOARD_WS_ADDR", &value)?;
        }
        if let Some(value) = lookup("SWITCHBOARD_REST_ADDR") {
            self.rest.listen_addr = parse_env("SWITCHBOARD_REST_ADDR", &value)?;
        }
        if let Some(value) = lookup("SWITCHBOARD_SHARDS") {
            self.gateway.shards = parse_env("SWITCHBOARD_SHARDS", &value)?;
        }
        if let Some(value) = lookup("SWITCHBOARD_JWT_SECRET") {
            self.auth.jwt_secret = Some(value);
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let gateway = &self.gateway;
        if !gateway.ws_path.starts_with('/') {
            bail!("gateway.ws_path {:?} must start with '/'", gateway.ws_path);
        }
        let positive = [
            (
                "gateway.max_message_bytes",
                gateway.max_message_bytes as u64,
            ),
            ("gateway.max_frame_bytes", gateway.max_frame_bytes as u64),
            (
                "gateway.max_frames_per_message",
                gateway.max_frames_per_message as u64,
            ),
            ("gateway.handshake_timeout_ms", gateway.handshake_timeout_ms),
            ("gateway.auth_timeout_ms", gateway.auth_timeout_ms),
            ("gateway.idle_timeout_ms", gateway.idle_timeout_ms),
            (
                "gateway.send_queue_messages",
                gateway.send_queue_messages as u64,
            ),
            ("gateway.send_queue_bytes", gateway.send_queue_bytes as u64),
            (
                "gateway.rate_limit_per_second",
                u64::from(gateway.rate_limit_per_second),
            ),
            ("auth.token_ttl_secs", self.auth.token_ttl_secs),
        ];
        for (name, value) in positive {
            if value == 0 {
                bail!("{name} is 0; set it above 0");
            }
        }
        if gateway.max_frame_bytes > gateway.max_message_bytes {
            bail!(
                "gateway.max_frame_bytes ({}) must not exceed gateway.max_message_bytes ({})",
                gateway.max_frame_bytes,
                gateway.max_message_bytes
            );
        }
        if gateway.max_frames_per_message * 2 > gateway.send_queue_messages {
            bail!(
                "gateway.max_frames_per_message ({}) must be at most half of \
                 gateway.send_queue_messages ({}), so the replies to one message fit the queue",
                gateway.max_frames_per_message,
                gateway.send_queue_messages
            );
        }
        if gateway.shards > MAX_SHARDS {
            bail!(
                "gateway.shards is {}; use at most {MAX_SHARDS}",
                gateway.shards
            );
        }
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.len() < 32 {
                bail!(
                    "auth.jwt_secret is {} bytes; use at least 32 random bytes",
                    secret.len()
                );
            }
        }
        self.router.validate().map_err(anyhow::Error::msg)
    }

    /// Returns the shard count, resolving 0 to the number of CPU cores.
    pub fn shard_count(&self) -> usize {
        match self.gateway.shards {
            0 => std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            shards => shards,
        }
    }
}

fn parse_env<T>(name: &str, value: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value
        .parse()
        .with_context(|| format!("environment variable {name} has invalid value {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                "SWITCHBOARD_WS_ADDR" => Some("127.0.0.1:9000".into()),
                "SWITCHBOARD_SHARDS" => Some("3".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.gateway.listen_addr.port(), 9000);
        assert_eq!(config.gateway.shards, 3);
    }

    #[test]
    fn invalid_env_value_named() {
        let mut config = Config::default();
        let error = config
            .apply_env(|name| (name == "SWITCHBOARD_SHARDS").then(|| "many".into()))
            .unwrap_err();
        assert!(error.to_string().contains("SWITCHBOARD_SHARDS"));
    }

    #[test]
    fn zero_limits_rejected() {
        let mut config = Config::default();
        config.gateway.idle_timeout_ms = 0;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("gateway.idle_timeout_ms"), "{error}");

        let mut config = Config::default();
        config.router.commit_queue_sends = 0;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("router.commit_queue_sends"), "{error}");
    }

    #[test]
    fn frames_per_message_bounded_by_queue() {
        let mut config = Config::default();
        config.gateway.max_frames_per_message = config.gateway.send_queue_messages;
        assert!(config.validate().is_err());
    }

    #[test]
    fn short_secret_rejected() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some("short".into());
        assert!(config.validate().is_err());
    }

    #[test]
    fn deploy_example_matches_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/switchboard.toml");
        let example: Config = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let defaults = Config {
            data_dir: PathBuf::from("data"),
            ..Config::default()
        };
        assert_eq!(
            toml::to_string(&example).unwrap(),
            toml::to_string(&defaults).unwrap(),
            "deploy/switchboard.toml must list the built-in defaults"
        );
    }

    #[test]
    fn unknown_file_key_rejected() {
        let parsed: Result<Config, _> = toml::from_str("[gateway]\nlisten_adr = \"127.0.0.1:1\"\n");
        assert!(parsed.is_err());
    }
}
