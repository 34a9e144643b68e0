//! The Settings screen: the app's settings file, and the idle timeout within the server's limit.

use std::sync::PoisonError;

use tessera_session::SessionEngine;

use super::Shell;
use crate::commands::{SettingsPatch, SettingsView};
use crate::config::{Settings, check_server_url};
use crate::error::{UiCode, UiError};

/// The shortest idle timeout the settings accept (the warning alone lasts 60 s).
const MIN_IDLE_TIMEOUT_SECS: u64 = 60;

impl Shell {
    /// A copy of the settings.
    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Changes the settings and writes them to disk.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, UiError> {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = settings.clone();
        change(&mut next);
        next.store(&self.settings_path).map_err(|e| {
            UiError::new(UiCode::Internal, format!("could not save {}: {e}", self.settings_path.display()))
        })?;
        *settings = next.clone();
        Ok(next)
    }

    /// The server's idle timeout (the most the app may allow), when the server answers.
    async fn idle_timeout_max(&self, engine: &SessionEngine) -> Option<u64> {
        engine.client().discovery().await.ok().map(|d| d.tessera.session_idle_timeout_secs)
    }

    /// The settings as the Settings screen shows them.
    pub async fn settings_view(&self) -> Result<SettingsView, UiError> {
        let engine = self.engine().await?;
        let settings = self.settings();
        let max = self.idle_timeout_max(&engine).await;
        let configured = settings.idle_timeout_secs.unwrap_or(engine.config().idle_timeout.as_secs());
        Ok(SettingsView {
            server_url: settings.server_url.unwrap_or_else(|| engine.config().server_url()),
            idle_timeout_secs: max.map_or(configured, |m| configured.min(m)),
            idle_timeout_max_secs: max,
            os_notifications: settings.os_notifications,
        })
    }

    /// Validates and saves a settings change.
    pub async fn apply_settings(&self, patch: SettingsPatch) -> Result<(), UiError> {
        let engine = self.engine().await?;
        let server_url = match patch.server_url.as_deref() {
            Some(url) => {
                let url = check_server_url(url)?;
                if url != engine.config().server_url() && engine.state().is_signed_in() {
                    return Err(UiError::new(UiCode::InvalidInput, "Sign out before switching servers."));
                }
                Some(url)
            }
            None => None,
        };
        if let Some(secs) = patch.idle_timeout_secs {
            let max = self.idle_timeout_max(&engine).await;
            if secs < MIN_IDLE_TIMEOUT_SECS || max.is_some_and(|m| secs > m) {
                let most = max.map_or_else(|| "the server's limit".to_owned(), |m| format!("{} minutes", m / 60));
                return Err(UiError::new(
                    UiCode::InvalidInput,
                    format!("The idle timeout must be between 1 minute and {most}."),
                ));
            }
        }
        if let Some(secs) = patch.idle_timeout_secs
            && let Some(live) = self.live.lock().await.as_ref()
        {
            let effective = live.idle.set_timeout(std::time::Duration::from_secs(secs));
            tracing::info!(requested = secs, effective = ?effective, "idle timeout set");
        }
        self.update_settings(|s| {
            if let Some(url) = server_url {
                s.server_url = Some(url);
            }
            if let Some(secs) = patch.idle_timeout_secs {
                s.idle_timeout_secs = Some(secs);
            }
            if let Some(on) = patch.os_notifications {
                s.os_notifications = on;
            }
        })?;
        Ok(())
    }
}
