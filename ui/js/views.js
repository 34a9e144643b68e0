// The screens. Everything is built with textContent: no HTML from data, ever.
// A failed command goes to the `fail` each screen is given (app.js decides what it means).
import { call } from "./api.js";
import { describe } from "./errors.js";
import { applyNotificationList, state } from "./state.js";

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "onclick") node.addEventListener("click", v);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

// "23 Nov 2026, 14:05" in local time, without Intl: toLocaleString() makes the web process load
// ICU's date formatting data (megabytes) for a few dates; the UI is in English anyway.
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n) => String(n).padStart(2, "0");
function when(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "—";
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}, ${two(d.getHours())}:${two(d.getMinutes())}`;
}

function message(id, text) {
  const m = $(id);
  m.textContent = text || "";
  m.hidden = !text;
}

// ---------- notifications ----------

/**
 * The newest notifications; read again (a few times at most) when the reply is older than a
 * notification event already applied (state.js), which it would drop from the badge and list.
 */
async function loadNotifications(unreadOnly, limit) {
  for (let attempt = 1; ; attempt++) {
    const list = await call("notifications_list", { unreadOnly, limit });
    if (applyNotificationList(list) || attempt === 5) {
      renderNotificationCount();
      return list.items;
    }
  }
}

function renderNotificationCount() {
  const badge = $("unread-badge");
  badge.textContent = String(state.unread);
  badge.hidden = state.unread === 0;
}

function notificationTitle(n) {
  const p = n.payload || {};
  return p.title || p.message || p.text || p.body || n.type.replaceAll(/[._]/g, " ");
}

function notificationItem(n, fail) {
  const li = el("li", { class: n.read_at ? "" : "unread", "data-seq": String(n.seq), "data-testid": "notification" },
    el("div", { class: "grow" },
      el("div", { class: "title", textContent: notificationTitle(n) }),
      el("div", { class: "muted", textContent: n.type + " · " + when(n.created_at) })));
  if (!n.read_at) {
    li.append(el("button", {
      type: "button",
      textContent: "Mark read",
      "data-testid": "mark-read-" + n.seq,
      ariaLabel: "Mark “" + notificationTitle(n) + "” read",
      onclick: () => call("notifications_mark_read", { seq: n.seq }).then(() => views.notifications(fail)).catch(fail),
    }));
  }
  return li;
}

// ---------- screens ----------

export const views = {
  async home(fail) {
    const s = state.status.session;
    $("home-username").textContent = s.username || "";
    $("home-server").textContent = s.server_url;
    $("home-session-end").textContent = when(s.session_expires_at);
    $("home-storage").textContent =
      s.storage === "keychain" ? "the system keychain" : "memory only (ends when Tessera closes)";
    // Both at once: `me` asks the server, the notifications come from the local cache.
    const latest = loadNotifications(false, 5).catch((e) => e);
    const me = await call("me");
    $("home-display-name").textContent = me.display_name;
    $("home-role").textContent = me.role;
    const box = $("home-notifications");
    const items = await latest;
    if (items instanceof Error) {
      box.replaceChildren();
      if (items.code !== "unavailable") throw items;
      return;
    }
    box.replaceChildren(...items.map((n) => notificationItem(n, fail)));
  },

  async notifications(fail) {
    try {
      const items = await loadNotifications($("unread-only").checked, 200);
      $("notification-list").replaceChildren(...items.map((n) => notificationItem(n, fail)));
      message("notifications-message", items.length ? "" : "No notifications.");
    } catch (e) {
      $("notification-list").replaceChildren();
      if (e.code === "signed_out" || e.code === "not_signed_in") throw e;
      message("notifications-message", describe(e));
    }
  },

  async devices(fail) {
    message("devices-message", "");
    const { sessions } = await call("sessions_list");
    $("device-list").replaceChildren(...sessions.map((s) => {
      const li = el("li", { "data-session-id": s.id, "data-testid": s.current ? "device-current" : "device" },
        el("div", { class: "grow" },
          el("div", { class: "title" }, s.device.name + " ", s.current ? el("span", { class: "tag", textContent: "This device" }) : null),
          el("div", { class: "muted", textContent:
            s.device.platform + " · " + s.client_id + " · " + s.ip + " · last seen " + when(s.last_seen_at) })));
      if (!s.current) {
        li.append(el("button", {
          type: "button", class: "danger", textContent: "Sign out",
          ariaLabel: "Sign out " + s.device.name, "data-testid": "revoke-" + s.id,
          onclick: () => call("session_revoke", { sessionId: s.id }).then(() => views.devices(fail)).catch(fail),
        }));
      }
      return li;
    }));
  },

  async activity() {
    const local = await call("audit_local", { limit: 50 });
    $("audit-local").replaceChildren(...local.slice().reverse().map((a) =>
      el("li", { "data-testid": "audit-local-entry" },
        el("span", { class: "grow", textContent: a.kind.replaceAll("_", " ") + (a.reason ? " (" + a.reason.replaceAll("_", " ") + ")" : "") + (a.detail ? " — " + a.detail : "") }),
        el("span", { class: "muted", textContent: when(a.at) }))));
    try {
      const server = await call("audit_server");
      message("audit-server-message", "");
      $("audit-server").replaceChildren(...server.events.map((a) =>
        el("li", {},
          el("span", { class: "grow", textContent: a.kind.replaceAll("_", " ") + (a.ip ? " from " + a.ip : "") }),
          el("span", { class: "muted", textContent: when(a.at) }))));
    } catch (e) {
      if (e.code === "signed_out" || e.code === "not_signed_in") throw e;
      message("audit-server-message", describe(e));
    }
  },

  async settings() {
    const s = await call("settings_get");
    $("settings-server-url").value = s.server_url;
    $("settings-idle-minutes").value = String(Math.round(s.idle_timeout_secs / 60));
    $("settings-idle-minutes").max = s.idle_timeout_max_secs ? String(Math.floor(s.idle_timeout_max_secs / 60)) : "";
    $("settings-idle-hint").textContent = s.idle_timeout_max_secs
      ? "The server allows at most " + Math.floor(s.idle_timeout_max_secs / 60) + " minutes."
      : "The server's limit is not known right now.";
    $("settings-os-notifications").checked = s.os_notifications;
    $("settings-sign-out-browser").checked = s.sign_out_browser;
  },

  async diagnostics() {
    const d = await call("diagnostics");
    const rows = [
      ["Tessera", d.app_version], ["Tauri", d.tauri_version], ["Web engine", navigator.userAgent], ["OS", d.os],
      ["Server", d.server_url], ["Session state", d.state],
      ["Sign-in kept in", d.storage.tier + (d.storage.keychain_error ? " (" + d.storage.keychain_error.code + ")" : "")],
      ["Refreshes", d.metrics.refresh_count + " ok, " + d.metrics.refresh_failures + " failed"],
      ["Refresh latency p50 / p99", (d.metrics.refresh_latency_p50_ms ?? "—") + " / " + (d.metrics.refresh_latency_p99_ms ?? "—") + " ms"],
      ["Reconnects", d.metrics.reconnects], ["Last error", d.metrics.last_error_code || "none"],
      ["Clock skew", d.clock_skew_ms == null ? "unknown" : d.clock_skew_ms + " ms"],
      ["Notifications", d.feed_mode || "no feed"],
      ["Idle time from", d.idle ? d.idle.source + ", sign out after " + Math.round(d.idle.timeout_secs / 60) + " min" : "—"],
      ["Log files", d.log_dir], ["Data", d.data_dir], ["Settings file", d.settings_path],
    ];
    $("diagnostics").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: String(v) })]));
  },

  /** A notification event, already counted in the state: show it where lists are open. */
  onNotification(n, fail) {
    renderNotificationCount();
    if (state.view === "notifications") $("notification-list").prepend(notificationItem(n, fail));
    if (state.view === "home") $("home-notifications").prepend(notificationItem(n, fail));
  },

  wire(fail) {
    $("unread-only").addEventListener("change", () => views.notifications(fail).catch(fail));
    $("mark-all-read").addEventListener("click", () =>
      call("notifications_mark_all_read").then(() => views.notifications(fail)).catch(fail));
    $("devices-refresh").addEventListener("click", () => views.devices(fail).catch(fail));
    $("revoke-others").addEventListener("click", async () => {
      try {
        const r = await call("sessions_revoke_others");
        await views.devices(fail);
        message("devices-message", r.revoked === 1 ? "1 other device signed out." : r.revoked + " other devices signed out.");
      } catch (e) {
        fail(e);
      }
    });
    $("settings-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const minutes = Number($("settings-idle-minutes").value);
      try {
        await call("settings_set", { patch: {
          server_url: $("settings-server-url").value,
          idle_timeout_secs: Number.isFinite(minutes) ? Math.round(minutes * 60) : null,
          os_notifications: $("settings-os-notifications").checked,
          sign_out_browser: $("settings-sign-out-browser").checked,
        } });
        message("settings-message", "Saved.");
        await views.settings();
      } catch (e) {
        message("settings-message", describe(e));
      }
    });
  },
};
