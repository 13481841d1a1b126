//! The integration tests, as one test binary: each module below is one area of the gateway
//! tested against the real `tollgate` binary, and `common` is the harness they share. One
//! binary means the harness and the dev-dependencies are compiled and linked once, not once per
//! file. nextest still runs every test in its own process; `cargo test` runs them as threads
//! of one process, so a test hands its environment to the gateway it starts (`Command::env`),
//! never to the test process (`std::env::set_var`), where the other tests would see it.
//! Run one area with `cargo nextest run --test it hostile::` (or `cargo test --test it hostile::`).

mod common;

mod admin_api;
mod admin_cli;
mod auth;
mod auth_admin;
mod balancing;
mod calls;
mod capture;
mod concurrency;
mod config_props;
mod console;
mod console_dash;
mod console_manage;
mod console_portal;
mod console_seed;
mod counters;
mod grpc;
mod health;
mod hostile;
mod http2;
mod lean;
mod lifecycle;
mod limits;
mod limits_llm;
mod limits_redis;
mod live_config;
mod llm;
mod llm_resilience;
mod llm_tls;
mod llm_tools;
mod llm_wire;
mod mcp;
mod mcp_admin;
mod mcp_proxy;
mod mcp_stdio;
mod openapi_doc;
mod otel;
mod plans;
mod prompt_admin;
mod prompts;
mod proxy_paths;
mod proxying;
mod reload;
mod sdk;
mod systemd;
mod tls_edge;
mod tls_listen;
mod users;
mod validate;
mod websocket;
