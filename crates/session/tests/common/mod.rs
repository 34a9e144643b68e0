//! Shared set-up for the engine's integration tests: a real reference server on loopback, a
//! `MemoryVault`, a temporary data directory.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub mod child;
#[cfg(target_os = "linux")]
pub mod fake_bus;
pub mod fake_idle;
pub mod file_vault;
pub mod proxy;

use tessera_protocol::{DeviceInfo, Role};
use tessera_server::Config;
use tessera_server::testing::TestServer;
use tessera_session::{
    Account, EngineConfig, MemoryVault, Password, SessionEngine, SessionEvent, SessionState, Vault, VaultRecord,
};
use tokio::sync::broadcast;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";

/// Server settings for tests: no rate limits (single-flight tests refresh a lot).
pub fn server_config() -> Config {
    tessera_server::testing::unlimited_config()
}

/// A running server with the test user.
pub async fn server(config: Config) -> TestServer {
    let server = TestServer::start(config).await.unwrap_or_else(|e| panic!("test server must start: {e}"));
    add_user(&server).await;
    server
}

pub async fn add_user(server: &TestServer) {
    server.add_user(USER, PASSWORD, Role::Agent).await.unwrap_or_else(|e| panic!("test user must be created: {e}"));
}

pub fn device(name: &str) -> DeviceInfo {
    DeviceInfo { name: name.into(), platform: std::env::consts::OS.into(), app_version: "0.1.0-test".into() }
}

pub fn engine_config(url: &str, data_dir: &Path) -> EngineConfig {
    EngineConfig::new(url, data_dir, "tessera-cli", device("test desk"))
}

pub fn engine(url: &str, data_dir: &Path, vault: &MemoryVault) -> SessionEngine {
    SessionEngine::new(engine_config(url, data_dir), Arc::new(vault.clone()))
        .unwrap_or_else(|e| panic!("engine must build: {e}"))
}

pub async fn signed_in(url: &str, data_dir: &Path, vault: &MemoryVault) -> SessionEngine {
    let engine = engine(url, data_dir, vault);
    if let Err(e) = engine.sign_in(USER, &Password::new(PASSWORD)).await {
        panic!("sign-in with the right password must work: {e}");
    }
    engine
}

pub fn key(url: &str) -> Account {
    Account::new(url, USER)
}

pub async fn record(vault: &MemoryVault, url: &str) -> Option<VaultRecord> {
    vault.load(&key(url)).await.unwrap_or_else(|e| panic!("memory vault load cannot fail here: {e}"))
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

/// Waits for the first event matching `pick` (a failsafe limit only; tests never assert times).
pub async fn wait_for<T>(
    events: &mut broadcast::Receiver<SessionEvent>,
    mut pick: impl FnMut(&SessionEvent) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("the engine's event channel closed"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("the expected event never came"))
}

pub fn is_active(state: &SessionState) -> bool {
    matches!(state, SessionState::Active { .. })
}
