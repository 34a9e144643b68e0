// Words for the closed set of error codes (src-tauri/src/error.rs, UiCode) and sign-out reasons.

// One entry per SignOutReason (tessera-session), in the words of src-tauri/src/error.rs:
// src-tauri/tests/ui_contract.rs fails until both sides list the same reasons with the same words.
export const REASONS = {
  user_signed_out: "You signed out.",
  idle_timeout: "You were signed out after a period of inactivity.",
  session_expired: "Your session reached its end. Sign in again.",
  session_revoked: "You were signed out from another device (or by an administrator).",
  refresh_reuse_detected: "Your session was ended because its sign-in token was used twice; sign in again.",
  screen_locked: "You were signed out when the screen locked.",
  server_rejected: "The server ended your session. Sign in again.",
};

/** What to tell the user about a failed command. */
export function describe(error) {
  switch (error.code) {
    case "invalid_credentials":
      return "Wrong user name or password.";
    case "offline":
      return "The server cannot be reached right now. " + error.message;
    case "keychain":
      return "The system keychain is not usable: " + error.message;
    case "unavailable":
    case "sign_in_refused":
    case "cancelled":
    case "invalid_input":
    case "not_found":
    case "signed_out":
    case "not_signed_in":
      return error.message;
    default:
      return "Something went wrong: " + error.message;
  }
}
