//! One chat session: wires the display, the node and the prompt together.

use crate::display;
use crate::node::queue::Queue;
use crate::node::{Config, Node};
use crate::{input, message, prompt};
use futures::channel::mpsc;
use std::sync::Arc;

/// Where to join, if anywhere.
#[derive(Debug, Clone)]
pub struct Join {
    pub host: String,
    pub port: u16,
}

/// Runs a chat until the user leaves. Returns the process exit code.
pub async fn run(config: Config, join: Option<Join>) -> i32 {
    let events = Arc::new(Queue::new(display::QUEUE_BYTES));
    let printer = display::spawn_printer(events.clone(), std::io::stdout());
    let name = config.name.clone();
    let code = match Node::start(config, events.clone()).await {
        Err(e) => {
            eprintln!("p2pchat: {e}");
            1
        }
        Ok(node) => {
            let port = node.local_addr().port();
            node.notice(format!(
                "listening on {} (others join with: p2pchat NAME <this-host> {port})",
                node.local_addr()
            ));
            node.notice(format!(
                "you are {name} (node {}); type :help for commands",
                node.id()
            ));
            match &join {
                Some(j) => match node.join(&j.host, j.port).await {
                    Ok(()) => chat(node, &name).await,
                    Err(e) => {
                        eprintln!("p2pchat: {e}");
                        1
                    }
                },
                None => chat(node, &name).await,
            }
        }
    };
    events.close();
    let _ = printer.join();
    code
}

/// The prompt loop, then a clean leave.
async fn chat(node: Node, name: &str) -> i32 {
    let (interrupt_tx, interrupt) = mpsc::unbounded();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = interrupt_tx.unbounded_send(());
    }) {
        node.notice(format!("Ctrl-C will not leave cleanly: {e}"));
    }
    let lines = input::spawn_reader(std::io::stdin(), message::MAX_BODY);
    prompt::run(&node, name, lines, interrupt).await;
    node.quit().await;
    0
}
