// Tessera UI: picks the screen from app_status, follows engine events, reports input.
// The entry module: it imports the others and none imports it (the state lives in state.js).
import { call, subscribe } from "./api.js";
import { REASONS, describe } from "./errors.js";
import { applyEvent, applyStatus, state } from "./state.js";
import { views } from "./views.js";

const $ = (id) => document.getElementById(id);
const ACTIVITY_EVERY_MS = 10_000;

// ---------- screens ----------

function showSignIn(notice) {
  $("splash").hidden = true;
  $("app").hidden = true;
  $("signin").hidden = false;
  const n = $("signin-notice");
  n.textContent = notice || "";
  n.hidden = !notice;
  $("server-url").value = state.status?.server_url || $("server-url").value || "http://127.0.0.1:8787";
  $("server-url").focus(); // the server first: the buttons below act on it
}

function showApp() {
  $("splash").hidden = true;
  $("signin").hidden = true;
  $("app").hidden = false;
  renderHeader();
  open(state.view);
}

function renderStorageBanner() {
  const s = state.status;
  const banner = $("storage-banner");
  const reason = s?.storage?.keychain_error || s?.restore_error;
  if (s && s.storage.tier === "memory") {
    banner.textContent =
      "The system keychain cannot be used (" + (reason?.code || "unknown") + "): " +
      "your sign-in is kept in memory only and ends when Tessera closes." +
      (reason?.message ? " " + reason.message : "");
    banner.hidden = false;
  } else if (s?.restore_error) {
    banner.textContent = s.restore_error.message;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function renderHeader() {
  const s = state.status?.session;
  if (!s) return;
  $("user-name").textContent = s.username || "";
  const chip = $("status-chip");
  // The feed's mode when there is a feed; otherwise whether the session reaches the server.
  const mode = state.feedMode || (s.state.state === "offline" ? "offline" : "online");
  chip.dataset.mode = mode;
  chip.textContent = {
    connecting: "Connecting",
    live: "Live",
    polling: "Polling",
    offline: "Offline",
    online: "Online",
  }[mode];
  chip.title = {
    connecting: "Connecting to the server for live notifications",
    live: "Notifications arrive as they happen",
    polling: "Live connection failing: checking for notifications periodically",
    offline: "The server cannot be reached: showing what is cached",
    online: "Connected to the server",
  }[mode];
  renderRemaining();
}

function renderRemaining() {
  const end = state.status?.session?.session_expires_at;
  const el = $("session-remaining");
  if (!end) {
    el.textContent = "";
    return;
  }
  const mins = Math.max(0, Math.round((Date.parse(end) - Date.now()) / 60000));
  const h = Math.floor(mins / 60);
  el.textContent = "session ends in " + (h ? h + " h " : "") + (mins % 60) + " min";
}

function open(view) {
  state.view = view;
  for (const b of document.querySelectorAll(".tabs button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  views[view]?.(handleFailure).catch(handleFailure);
}

/** A command failed: a session-ending failure goes back to sign-in, others are shown. */
function handleFailure(e) {
  if (e.code === "signed_out" || e.code === "not_signed_in") {
    refresh();
    return;
  }
  toast(describe(e));
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = !text;
}

async function refresh() {
  applyStatus(await call("app_status")); // keeps a feed mode newer than the reply (state.js)
  renderStorageBanner();
  const s = state.status.session;
  const signedIn = !["signed_out", "signing_in"].includes(s.state.state);
  if (signedIn) {
    if ($("app").hidden) showApp();
    else renderHeader();
  } else {
    const reason = s.state.reason;
    const text = reason && reason !== "user_signed_out" ? REASONS[reason] || REASONS.server_rejected : "";
    showSignIn(text || state.status.restore_error?.message);
  }
  if (s.state.state === "expiring") openExpiring(s.state.session_ends_at);
}

// ---------- events ----------

function onEvent(event) {
  applyEvent(event);
  switch (event.type) {
    case "state_changed":
      if (event.state.state === "expiring") openExpiring(event.state.session_ends_at);
      if (event.state.state === "signed_out") closeDialogs();
      refresh().catch(handleFailure);
      break;
    case "warning":
      if (event.code === "session_expiring") openExpiring(state.status?.session?.session_expires_at);
      else toast(event.message);
      break;
    case "feed_mode":
      renderHeader();
      break;
    case "notification":
      views.onNotification(event.notification, handleFailure);
      break;
    case "idle_warning":
      $("idle-seconds").textContent = String(event.seconds_left);
      if (!$("idle-dialog").open) $("idle-dialog").showModal();
      break;
    case "idle_warning_cancelled":
      if ($("idle-dialog").open) $("idle-dialog").close();
      break;
    case "resync":
      refresh().catch(handleFailure);
      break;
    default:
      break; // "error": transient failures show in the status chip via state changes
  }
}

function openExpiring(endsAt) {
  const d = $("expiring-dialog");
  if (d.open || state.expiringShownFor === String(endsAt)) return;
  state.expiringShownFor = String(endsAt);
  if (endsAt) {
    const mins = Math.max(0, Math.round((Date.parse(endsAt) - Date.now()) / 60000));
    $("expiring-title").textContent = "Your session ends in " + mins + " minute" + (mins === 1 ? "" : "s");
  }
  d.showModal();
}

function closeDialogs() {
  for (const d of document.querySelectorAll("dialog")) if (d.open) d.close();
}

// ---------- input → activity ----------

function noteInput() {
  const now = Date.now();
  if (now - state.lastActivityReport < ACTIVITY_EVERY_MS || $("app").hidden) return;
  state.lastActivityReport = now;
  call("report_activity").catch(handleFailure);
}

// ---------- wiring ----------

/** Runs one sign-in attempt with the form's buttons disabled; signed in → home. */
async function attemptSignIn(signIn, onError) {
  const err = $("signin-error");
  err.hidden = true;
  const buttons = [$("sign-in"), $("sign-in-browser")];
  for (const b of buttons) b.disabled = true;
  try {
    applyStatus(await signIn());
    renderStorageBanner();
    state.view = "home";
    showApp();
  } catch (e) {
    // Cancelling is the user's own choice: nothing to explain.
    if (e.code !== "cancelled") {
      err.textContent = describe(e);
      err.hidden = false;
    }
    onError?.();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/** The browser flow: the app opens the system browser and waits; Cancel stops the wait. */
async function signInWithBrowser() {
  const waiting = $("signin-waiting");
  await attemptSignIn(async () => {
    const start = await call("browser_sign_in_begin", { serverUrl: $("server-url").value, fresh: $("signin-fresh").checked });
    const address = $("signin-url");
    address.value = start.url;
    waiting.hidden = false;
    address.focus(); // selected, ready to copy if no browser came up
    address.select();
    try {
      return await call("browser_sign_in_finish");
    } finally {
      waiting.hidden = true;
    }
  });
}

function wire() {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const password = $("password");
    await attemptSignIn(async () => {
      const status = await call("sign_in", {
        serverUrl: $("server-url").value,
        username: $("username").value,
        password: password.value,
      });
      password.value = "";
      return status;
    }, () => password.select());
  });
  $("sign-in-browser").addEventListener("click", signInWithBrowser);
  $("sign-in-cancel").addEventListener("click", () => call("browser_sign_in_cancel").catch(handleFailure));
  $("sign-out").addEventListener("click", async () => {
    try {
      await call("sign_out");
    } catch (e) {
      handleFailure(e);
    }
    await refresh();
  });
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => open(b.dataset.view));
  $("still-here").addEventListener("click", () => {
    state.lastActivityReport = Date.now();
    call("report_activity").catch(handleFailure);
    $("idle-dialog").close();
  });
  $("expiring-ok").addEventListener("click", () => $("expiring-dialog").close());
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel"]) {
    window.addEventListener(type, noteInput, { passive: true, capture: true });
  }
  views.wire(handleFailure);
  setInterval(renderRemaining, 30_000);
}

async function main() {
  wire();
  await subscribe(onEvent);
  await refresh(); // signed in → home, which also counts the unread notifications
}

main().catch((e) => {
  $("splash").hidden = true;
  toast(describe(e));
});
