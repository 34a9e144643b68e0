//! The Settings screen: the app's settings file, and the idle timeout within the server's limit.

use std::sync::PoisonError;
use std::time::Duration;

use super::Shell;
use crate::commands::{SettingsPatch, SettingsView};
use crate::config::{Settings, check_server_url};
use crate::error::{UiCode, UiError};

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

    /// The settings as the Settings screen shows them.
    pub async fn settings_view(&self) -> Result<SettingsView, UiError> {
        let desk = self.desk().await?;
        let engine = desk.engine();
        let settings = self.settings();
        let max = desk.server_idle_timeout().await.map(|max| max.as_secs());
        let configured = settings.idle_timeout_secs.unwrap_or(engine.config().idle_timeout.as_secs());
        Ok(SettingsView {
            server_url: settings.server_url.unwrap_or_else(|| engine.config().server_url()),
            idle_timeout_secs: max.map_or(configured, |m| configured.min(m)),
            idle_timeout_max_secs: max,
            os_notifications: settings.os_notifications,
            sign_out_browser: settings.sign_out_browser,
        })
    }

    /// Validates and saves a settings change.
    pub async fn apply_settings(&self, patch: SettingsPatch) -> Result<(), UiError> {
        let desk = self.desk().await?;
        let engine = desk.engine();
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
            let max = desk.server_idle_timeout().await;
            let effective = desk.set_idle_timeout(Duration::from_secs(secs), max).map_err(|refused| {
                UiError::new(UiCode::InvalidInput, format!("That idle timeout cannot be used: {refused}."))
            })?;
            tracing::info!(requested = secs, ?effective, "idle timeout set");
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
            if let Some(on) = patch.sign_out_browser {
                s.sign_out_browser = on;
            }
        })?;
        Ok(())
    }
}
