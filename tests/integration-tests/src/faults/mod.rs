//! Faults the reliability tests inject into real services, each on an
//! instance of the test's own so no other test is disturbed: a RabbitMQ node
//! to stop and start, a Cosmos DB emulator to cut off the network, and a
//! durable queue that keeps what was published through a broker restart.

mod cosmos_node;
mod rabbit_node;
mod tap;

pub use cosmos_node::PrivateCosmosEmulator;
pub use rabbit_node::PrivateRabbitNode;
pub use tap::DurableTap;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
