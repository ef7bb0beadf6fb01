//! The router's event loop. It owns presence and the gateway sinks, so fan-out needs no
//! lock. Sends go to the commit task and reads run as their own tasks. Every reply and push
//! comes back through the loop as an [`Output`].

mod commit;
mod convert;
mod reads;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use switchboard_protocol::envelope;
use switchboard_protocol::pb::{
    envelope::Kind, internal_frame, Deliver, ErrorCode, InternalFrame, PresenceChange,
    RouterRequest,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, trace, warn};

use crate::config::RouterConfig;
use crate::link::{GatewaySink, RouterHandle, RouterInput, SessionAddr};
use crate::presence::Presence;
use crate::store::{Store, UserId};

use commit::PendingSend;
pub(crate) use convert::encode_frames;

/// Result that the commit task and the read tasks hand back to the event loop.
pub(crate) enum Output {
    /// Frames for one session.
    Reply { to: SessionAddr, frames: Bytes },
    /// Frames for every online session of `users`, except `except`.
    Fanout {
        users: Arc<[UserId]>,
        frames: Bytes,
        except: Option<SessionAddr>,
    },
}

/// State shared by the router's tasks.
pub(crate) struct Context {
    pub store: Arc<dyn Store>,
    pub config: RouterConfig,
    pub out: mpsc::UnboundedSender<Output>,
}

impl Context {
    /// Queues frames for one session.
    pub fn reply(&self, to: SessionAddr, frames: Bytes) {
        self.push(Output::Reply { to, frames });
    }

    /// Queues frames for the online sessions of `users`.
    pub fn fanout(&self, users: Arc<[UserId]>, frames: Bytes, except: Option<SessionAddr>) {
        self.push(Output::Fanout {
            users,
            frames,
            except,
        });
    }

    fn push(&self, output: Output) {
        if self.out.send(output).is_err() {
            debug!("router event loop stopped; output dropped");
        }
    }
}

/// The running router.
pub struct Router {
    handle: RouterHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Router {
    /// Starts the router's event loop and commit task on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: RouterConfig) -> Router {
        let (input_tx, input_rx) = mpsc::channel(config.input_queue_frames);
        let (commit_tx, commit_rx) = mpsc::channel(config.commit_queue_sends);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let context = Arc::new(Context {
            store,
            config,
            out: out_tx,
        });

        let commit = tokio::spawn(commit::run(context.clone(), commit_rx));
        let event_loop = EventLoop {
            context,
            commit_tx,
            outlets: Outlets::default(),
        };
        let main = tokio::spawn(event_loop.run(input_rx, out_rx));
        info!("router started");

        Router {
            handle: RouterHandle { tx: input_tx },
            tasks: vec![main, commit],
        }
    }

    /// Returns a handle for gateways.
    pub fn handle(&self) -> RouterHandle {
        self.handle.clone()
    }

    /// Stops the router: frames queued before this call are served, queued sends are
    /// committed and acknowledged, and later frames are dropped. Waits for the tasks to end.
    pub async fn shutdown(self) {
        if self.handle.tx.send(RouterInput::Shutdown).await.is_err() {
            debug!("router already stopped");
        }
        for task in self.tasks {
            if let Err(error) = task.await {
                warn!(%error, "router task ended abnormally");
            }
        }
        info!("router stopped");
    }
}

struct EventLoop {
    context: Arc<Context>,
    commit_tx: mpsc::Sender<PendingSend>,
    outlets: Outlets,
}

/// Presence and the gateway sinks: everything needed to push frames to sessions.
#[derive(Default)]
struct Outlets {
    presence: Presence,
    gateways: HashMap<u32, Arc<dyn GatewaySink>>,
}

impl EventLoop {
    async fn run(
        mut self,
        mut input: mpsc::Receiver<RouterInput>,
        mut outputs: mpsc::UnboundedReceiver<Output>,
    ) {
        loop {
            tokio::select! {
                biased;
                Some(output) = outputs.recv() => self.outlets.emit(output),
                received = input.recv() => match received {
                    Some(RouterInput::Shutdown) | None => break,
                    Some(input) => self.accept(input),
                },
            }
        }

        // The commit task drains its queue and ends once its sender is gone; the output
        // channel closes when it and every read task have finished.
        let EventLoop {
            context,
            commit_tx,
            mut outlets,
        } = self;
        drop(commit_tx);
        drop(context);
        while let Some(output) = outputs.recv().await {
            outlets.emit(output);
        }
    }

    fn accept(&mut self, input: RouterInput) {
        match input {
            RouterInput::RegisterGateway(gateway_id, sink) => {
                info!(gateway_id, "gateway registered");
                self.outlets.gateways.insert(gateway_id, sink);
            }
            RouterInput::Shutdown => unreachable!("the event loop handles shutdown itself"),
            RouterInput::Frame(InternalFrame { kind }) => match kind {
                Some(internal_frame::Kind::Request(request)) => self.route(request),
                Some(internal_frame::Kind::Presence(change)) => self.track(change),
                Some(internal_frame::Kind::Deliver(_)) | None => {
                    warn!("router received a frame that only gateways accept; dropped");
                }
            },
        }
    }

    fn track(&mut self, change: PresenceChange) {
        let session = SessionAddr {
            gateway_id: change.gateway_id,
            session_id: change.session_id,
        };
        if change.online {
            self.outlets.presence.online(change.user_id, session);
        } else {
            self.outlets.presence.offline(change.user_id, session);
        }
        trace!(
            user_id = change.user_id,
            session_id = change.session_id,
            online = change.online,
            "presence"
        );
    }

    fn route(&mut self, request: RouterRequest) {
        let from = SessionAddr {
            gateway_id: request.gateway_id,
            session_id: request.session_id,
        };
        let user_id = request.user_id;
        let Some(envelope) = request.envelope else {
            warn!(
                gateway_id = from.gateway_id,
                session_id = from.session_id,
                "request without envelope dropped"
            );
            return;
        };
        let request_id = envelope.request_id;

        match envelope.kind {
            Some(Kind::SendMessage(send)) => self.queue_send(PendingSend {
                from,
                user_id,
                request_id,
                send,
            }),
            Some(
                kind @ (Kind::Sync(_) | Kind::History(_) | Kind::MarkRead(_) | Kind::Typing(_)),
            ) => {
                let context = self.context.clone();
                tokio::spawn(reads::handle(context, from, user_id, request_id, kind));
            }
            Some(kind) => {
                let reason = format!(
                    "frame kind {} is not a router request",
                    envelope::kind_name(&kind)
                );
                self.reject(from, request_id, ErrorCode::NotARequest, reason);
            }
            None => {
                let reason = "frame has no kind or a kind unknown to this server".to_string();
                self.reject(from, request_id, ErrorCode::UnknownKind, reason);
            }
        }
    }

    fn queue_send(&mut self, pending: PendingSend) {
        if let Err(reason) = commit::validate(&self.context.config, &pending.send) {
            self.reject(
                pending.from,
                pending.request_id,
                ErrorCode::InvalidArgument,
                reason,
            );
            return;
        }

        let (from, request_id) = (pending.from, pending.request_id);
        if let Err(error) = self.commit_tx.try_send(pending) {
            warn!(session_id = from.session_id, %error, "commit queue full; send rejected");
            let reason = "router commit queue is full; retry the send".to_string();
            self.reject(from, request_id, ErrorCode::Unavailable, reason);
        }
    }

    fn reject(&mut self, to: SessionAddr, request_id: u64, code: ErrorCode, reason: String) {
        let frames = encode_frames(&envelope::error(request_id, code, reason));
        self.outlets
            .deliver(to.gateway_id, vec![to.session_id], frames);
    }
}

impl Outlets {
    fn emit(&mut self, output: Output) {
        match output {
            Output::Reply { to, frames } => {
                self.deliver(to.gateway_id, vec![to.session_id], frames)
            }
            Output::Fanout {
                users,
                frames,
                except,
            } => {
                for (gateway_id, session_ids) in self.presence.recipients_by_gateway(&users, except)
                {
                    self.deliver(gateway_id, session_ids, frames.clone());
                }
            }
        }
    }

    fn deliver(&self, gateway_id: u32, session_ids: Vec<u64>, frames: Bytes) {
        match self.gateways.get(&gateway_id) {
            Some(sink) => sink.deliver(Deliver {
                gateway_id,
                session_ids,
                frames,
            }),
            None => warn!(gateway_id, "no sink registered for gateway; frames dropped"),
        }
    }
}
