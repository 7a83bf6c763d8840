//! A message body from RabbitMQ, through the real dispatcher: envelope
//! parsing, routing, each handler's data parsing. Any input must end in an
//! answer (handled, duplicate, rejected or transient), never a panic.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sync_core::inbound::consumes;

fuzz_target!(|body: &[u8]| {
    let h = common::harness();
    let _ = h
        .runtime
        .block_on(h.app.core.dispatcher.handle(body, consumes::ALL));
});
