//! Boundary between the router and the gateways: what a router sends to a gateway and how a
//! gateway reaches the router. In one process these are channels; in a cluster the same
//! frames travel over Kafka and internal streams.

use std::sync::Arc;

use switchboard_protocol::pb::{Deliver, InternalFrame};
use tokio::sync::mpsc;

/// Address of one client session: the gateway that serves it and the gateway's session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionAddr {
    /// Gateway instance id.
    pub gateway_id: u32,
    /// Session id, unique within the gateway.
    pub session_id: u64,
}

/// Receiver of the frames a router sends to one gateway.
///
/// Implementations must not block: the router calls `deliver` from its event loop.
pub trait GatewaySink: Send + Sync + 'static {
    /// Hands frames to the gateway for the listed sessions; sessions that are gone are
    /// skipped by the gateway.
    fn deliver(&self, deliver: Deliver);
}

/// Input of the router's event loop.
pub(crate) enum RouterInput {
    /// A frame from a gateway.
    Frame(InternalFrame),
    /// A gateway announcing where its frames go.
    RegisterGateway(u32, Arc<dyn GatewaySink>),
    /// Stop taking frames, commit what is queued and end.
    Shutdown,
}

/// Error of [`RouterHandle::try_send`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouterSendError {
    /// The router's input queue is full; the request may be retried.
    #[error("router input queue is full ({capacity} frames); retry later")]
    Full {
        /// Capacity of the queue.
        capacity: usize,
    },
    /// The router has stopped.
    #[error("router has stopped")]
    Closed,
}

/// Cloneable handle that gateways use to reach the router.
#[derive(Clone)]
pub struct RouterHandle {
    pub(crate) tx: mpsc::Sender<RouterInput>,
}

impl RouterHandle {
    /// Registers the sink that receives frames for gateway `gateway_id`.
    ///
    /// # Errors
    /// [`RouterSendError`] when the router is gone or its queue is full.
    pub fn register_gateway(
        &self,
        gateway_id: u32,
        sink: Arc<dyn GatewaySink>,
    ) -> Result<(), RouterSendError> {
        self.push(RouterInput::RegisterGateway(gateway_id, sink))
    }

    /// Queues a frame for the router without waiting. Safe to call from any thread and any
    /// async runtime.
    ///
    /// # Errors
    /// [`RouterSendError::Full`] when the router is behind; callers reply to the client with a
    /// retryable error rather than buffering without bound.
    pub fn try_send(&self, frame: InternalFrame) -> Result<(), RouterSendError> {
        self.push(RouterInput::Frame(frame))
    }

    fn push(&self, input: RouterInput) -> Result<(), RouterSendError> {
        self.tx.try_send(input).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => RouterSendError::Full {
                capacity: self.tx.max_capacity(),
            },
            mpsc::error::TrySendError::Closed(_) => RouterSendError::Closed,
        })
    }
}
