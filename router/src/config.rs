//! Configuration of the router.

use serde::{Deserialize, Serialize};

/// Limits and sizes of the router. Every field has a default suited to a single node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Capacity of the queue from gateways to the router. When full, gateways reply to
    /// requests with a retryable `UNAVAILABLE` error instead of buffering without bound.
    pub input_queue_frames: usize,
    /// Capacity of the queue of sends waiting for a commit.
    pub commit_queue_sends: usize,
    /// Most messages written by one group commit.
    pub max_batch_messages: usize,
    /// Page size of sync and history requests that give no limit.
    pub default_page_messages: u32,
    /// Largest page a sync or history request may ask for; larger limits are clamped.
    pub max_page_messages: u32,
    /// Largest message content accepted, in bytes of UTF-8.
    pub max_content_bytes: usize,
    /// Maximum length of a client message id, in bytes.
    pub max_message_id_bytes: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            input_queue_frames: 65_536,
            commit_queue_sends: 65_536,
            max_batch_messages: 1_000,
            default_page_messages: 100,
            max_page_messages: 500,
            max_content_bytes: 16 * 1024,
            max_message_id_bytes: 128,
        }
    }
}

impl RouterConfig {
    /// Checks that every size is usable.
    ///
    /// # Errors
    /// A message naming the setting and the value to use.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("router.input_queue_frames", self.input_queue_frames),
            ("router.commit_queue_sends", self.commit_queue_sends),
            ("router.max_batch_messages", self.max_batch_messages),
            (
                "router.default_page_messages",
                self.default_page_messages as usize,
            ),
            ("router.max_page_messages", self.max_page_messages as usize),
            ("router.max_content_bytes", self.max_content_bytes),
            ("router.max_message_id_bytes", self.max_message_id_bytes),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} is 0; set it above 0"));
            }
        }
        if self.default_page_messages > self.max_page_messages {
            return Err(format!(
                "router.default_page_messages ({}) must not exceed router.max_page_messages ({})",
                self.default_page_messages, self.max_page_messages
            ));
        }
        Ok(())
    }
}
